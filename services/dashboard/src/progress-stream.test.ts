import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, it } from "node:test";
import { epochEvent, failedEvent, happyPath, queuedJob } from "./job-fixtures.js";
import { FileLinks, filePath } from "./file-links.js";
import { progressEvent, sseFrame } from "./progress-stream.js";
import type { ProjectedJob } from "./projected-job.js";
import { apply, withChanges } from "./projection.js";
import type { JobEvent } from "@trainyard/contracts";

const id = randomUUID();
const fold = (events: JobEvent[], start: ProjectedJob = queuedJob(id)) =>
  events.reduce((r, e, i) => withChanges(r, apply(r, e, i + 1)?.changes ?? { last_event_seq: 0 }), start);
const noLinks = () => null;

describe("progress stream (PRD 5.3)", () => {
  it("reports a training job as progress with epoch, progress, mAP50, loss and ETA", () => {
    assert.deepEqual(progressEvent(fold([epochEvent(id, 1, 50)]), noLinks), {
      event: "progress",
      data: { epoch: 1, total_epochs: 2, progress: 50, phase: "training", mAP50: 0.4, loss: 1, eta_seconds: 30 },
    });
  });

  it("reports completion with the final mAP50 and the model link, and failures with their code", () => {
    const done = progressEvent(fold(happyPath(id)), (r) => `https://gw.example/models/${r._id}.pt`);
    assert.deepEqual(done, {
      event: "completed",
      data: { status: "completed", final_mAP50: 0.8, model_url: `https://gw.example/models/${id}.pt` },
    });
    const failed = progressEvent(fold([failedEvent(id, "CANCELLED")]), noLinks);
    assert.deepEqual(failed, {
      event: "failed",
      data: { status: "cancelled", error: { code: "CANCELLED", message: "loss became NaN" } },
    });
  });

  it("frames events as text/event-stream with the sequence as id", () => {
    assert.equal(sseFrame("heartbeat", { timestamp: "t" }), 'event: heartbeat\ndata: {"timestamp":"t"}\n\n');
    assert.equal(sseFrame("progress", { a: 1 }, 7), 'id: 7\nevent: progress\ndata: {"a":1}\n\n');
  });
});

describe("file links", () => {
  const done = fold(happyPath(id));

  it("names the gateway path of each file a job has", () => {
    assert.equal(filePath(done, "model"), `/models/${id}.pt`);
    assert.equal(filePath(done, "logs"), `/artifacts/${id}/logs.txt`);
    assert.equal(filePath(done, "pr_curve"), null, "not produced");
    assert.equal(filePath({ ...done, status: "failed" }, "model"), null, "no model unless completed");
  });

  it("names a run's file by job and file name: the gateway serves those of the run that won", () => {
    const run = { ...done, artifacts: { ...done.artifacts!, training_logs: `${id}/attempt-2/logs.txt` } };
    assert.equal(filePath(run, "logs"), `/artifacts/${id}/logs.txt`);
  });

  it("refuses an artifact object of another job", () => {
    const other = { ...done, artifacts: { ...done.artifacts!, training_logs: `${randomUUID()}/logs.txt` } };
    assert.equal(filePath(other, "logs"), null);
    const otherRun = {
      ...done,
      artifacts: { ...done.artifacts!, training_logs: `${randomUUID()}/attempt-1/logs.txt` },
    };
    assert.equal(filePath(otherRun, "logs"), null);
  });

  it("signs links as the gateway verifies them, expiring soon", async () => {
    const { verifyDownloadPath } = await import("@trainyard/runtime");
    const now = Date.parse("2025-01-20T10:00:00.000Z");
    const links = new FileLinks({
      publicBaseUrl: "https://gw.example/",
      secret: "download-secret-0123456789",
      now: () => now,
    });
    const url = new URL(links.link(done, "model") ?? "");
    assert.equal(url.origin, "https://gw.example");
    const ok = (at: number) =>
      verifyDownloadPath(
        "download-secret-0123456789",
        url.pathname,
        url.searchParams.get("expires") ?? undefined,
        url.searchParams.get("signature") ?? undefined,
        new Date(at),
      );
    assert.equal(ok(now + 60_000), true);
    assert.equal(ok(now + 16 * 60_000), false, "links expire after 15 minutes");
  });
});
