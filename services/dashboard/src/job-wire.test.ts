import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, it } from "node:test";
import { happyPath, queuedJob } from "./job-fixtures.js";
import { filesOf, toDetail, toSummary, type JobDetail } from "./job-wire.js";
import { apply, withChanges } from "./projection.js";

describe("job-wire", () => {
  const id = randomUUID();
  const done = happyPath(id).reduce(
    (r, e, i) => withChanges(r, apply(r, e, i + 1)?.changes ?? { last_event_seq: 0 }),
    queuedJob(id),
  );

  it("names the id job_id and writes dates as ISO strings", () => {
    const detail = toDetail(done);
    assert.equal(detail.job_id, id);
    assert.equal(detail.created_at, "2025-01-20T10:30:15.000Z");
    assert.equal(typeof detail.finished_at, "string");
    assert.equal((JSON.parse(JSON.stringify(detail)) as JobDetail).duration_seconds, 60);
  });

  it("publishes only listed fields, so a stray field in the document never reaches a browser", () => {
    const polluted = { ...done, callback_secret: "s3cret" };
    assert.ok(!JSON.stringify(toDetail(polluted)).includes("s3cret"));
    assert.ok(!JSON.stringify(toSummary(polluted)).includes("s3cret"));
  });

  it("keeps the heavy fields out of the summary, and object names out of both", () => {
    const summary = toSummary(done) as unknown as Record<string, unknown>;
    for (const key of ["history", "model_config", "dataset_info", "_id", "files"]) {
      assert.ok(!(key in summary), `summary has ${key}`);
    }
    assert.ok(!JSON.stringify(toDetail(done)).includes("best.pt"), "the browser asks for files by kind only");
  });

  it("lists the files a job has: the model once completed, and each uploaded artifact", () => {
    assert.deepEqual(filesOf(done), ["model", "logs", "results_csv", "confusion_matrix", "f1_curve"]);
    assert.deepEqual(filesOf({ ...done, status: "cancelled" }), [
      "logs",
      "results_csv",
      "confusion_matrix",
      "f1_curve",
    ]);
    assert.deepEqual(filesOf(queuedJob(id)), []);
  });
});
