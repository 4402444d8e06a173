/** Signed model and artifact downloads, against real NATS (object store) and FerretDB. */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { ApiError, runArtifact, type TerminalJobEvent } from "@trainyard/contracts";
import { openJobOutcomes, signDownloadPath, type ObjectStore } from "@trainyard/runtime";
import { DOWNLOAD_SECRET, putJob, startHarness, type Harness } from "./testing/harness.js";

let h: Harness;

before(async () => {
  h = await startHarness();
});

after(async () => {
  await h?.close();
});

describe("downloads", () => {
  let artifacts: ObjectStore;
  const jobId = randomUUID();
  const model = Buffer.from(Array.from({ length: 3000 }, (_, i) => i % 251));
  const in1h = () => new Date(Date.now() + 3600_000);

  before(async () => {
    artifacts = h.bus.artifacts;
    await artifacts.putBlob({ name: `${jobId}/best.pt` }, model);
    await artifacts.putBlob({ name: `${jobId}/results.csv` }, Buffer.from("epoch,mAP50\n1,0.5\n"));
  });

  const fetchPath = (path: string) => fetch(`${h.url}${path}`);

  test("a signed model URL returns the stored bytes without the API token", async () => {
    const res = await fetchPath(signDownloadPath(DOWNLOAD_SECRET, `/models/${jobId}.pt`, in1h()));
    assert.equal(res.status, 200, `expected 200 for a signed model URL, got ${res.status}`);
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), model, "expected the exact bytes of best.pt");
    assert.equal(res.headers.get("content-type"), "application/octet-stream");
    assert.equal(res.headers.get("content-disposition"), `attachment; filename="${jobId}.pt"`);
  });

  test("a signed artifact URL returns the file with its content type", async () => {
    const res = await fetchPath(signDownloadPath(DOWNLOAD_SECRET, `/artifacts/${jobId}/results.csv`, in1h()));
    assert.equal(res.status, 200, `expected 200 for a signed artifact URL, got ${res.status}`);
    assert.equal(await res.text(), "epoch,mAP50\n1,0.5\n");
    assert.match(res.headers.get("content-type") ?? "", /^text\/csv/);
  });

  test("unsigned, forged, foreign-key, re-pathed and expired URLs are 403", async () => {
    const path = `/models/${jobId}.pt`;
    const signed = signDownloadPath(DOWNLOAD_SECRET, path, in1h());
    const signature = new URL(signed, h.url).searchParams.get("signature") ?? "";
    const forged = signed.replace(/signature=.*/, `signature=${signature.split("").reverse().join("")}`);
    const otherJob = randomUUID();
    const cases: Array<[string, string]> = [
      ["unsigned", path],
      ["forged", forged],
      ["signed with another key", signDownloadPath("another-download-secret-0123", path, in1h())],
      ["signed for another job", signed.replace(jobId, otherJob)],
      ["another file with the model's signature", signed.replace(".pt?", ".pt/x?")],
      ["expired", signDownloadPath(DOWNLOAD_SECRET, path, new Date(Date.now() - 1000))],
    ];
    for (const [what, url] of cases) {
      const res = await fetchPath(url);
      if (what === "another file with the model's signature") {
        assert.notEqual(res.status, 200, `expected ${what} not to be served`);
        continue;
      }
      assert.equal(res.status, 403, `expected 403 for a ${what} URL, got ${res.status}`);
      assert.equal(ApiError.parse(await res.json()).code, "UNAUTHORIZED");
    }
  });

  test("a signed URL for an object that does not exist is 404", async () => {
    const res = await fetchPath(signDownloadPath(DOWNLOAD_SECRET, `/artifacts/${jobId}/missing.png`, in1h()));
    assert.equal(res.status, 404, `expected 404 for a missing artifact, got ${res.status}`);
  });

  test("a dot file name is never served, even when signed", async () => {
    const res = await fetchPath(signDownloadPath(DOWNLOAD_SECRET, `/artifacts/${jobId}/.hidden`, in1h()));
    assert.equal(res.status, 404, `expected 404 for a dot file, got ${res.status}`);
  });

  describe("a job that ran more than once (the partition case)", () => {
    const bytes = (text: string) => Buffer.from(text);
    const stored = (name: string, text: string) => artifacts.putBlob({ name }, bytes(text));
    const fetchText = async (path: string) => {
      const res = await fetchPath(signDownloadPath(DOWNLOAD_SECRET, path, in1h()));
      return { status: res.status, body: await res.text() };
    };

    test("serves the files of the run whose claim won, never a superseded run's", async () => {
      const job = randomUUID();
      // run 1 was given up on but trained on; run 2 completed the job and claimed it
      await stored(runArtifact(job, 1, "best.pt"), "model of the superseded run 1");
      await stored(runArtifact(job, 1, "results.csv"), "epoch\n1 (run 1)\n");
      await stored(runArtifact(job, 2, "best.pt"), "model of run 2");
      await stored(runArtifact(job, 2, "results.csv"), "epoch\n1 (run 2)\n");
      const outcomes = await openJobOutcomes(h.nc);
      const event: TerminalJobEvent = {
        type: "completed",
        job_id: job,
        at: new Date().toISOString(),
        started_at: new Date().toISOString(),
        duration_seconds: 10,
        model: { name: "m", object_name: runArtifact(job, 2, "best.pt"), size_bytes: 14 },
        final_metrics: {
          mAP50: 0.5,
          "mAP50-95": 0.3,
          precision: 0.5,
          recall: 0.5,
          box_loss: 1,
          cls_loss: 1,
          dfl_loss: 1,
          best_epoch: 1,
          total_epochs: 1,
        },
        artifacts: {
          confusion_matrix: null,
          pr_curve: null,
          f1_curve: null,
          results_csv: runArtifact(job, 2, "results.csv"),
          training_logs: null,
        },
        dataset_info: { total_images: 2, train_images: 1, val_images: 1, classes: ["a"], class_distribution: { a: 2 } },
      };
      assert.equal(await outcomes.claimRun(job, "completed", { attempt: 2, event }), "completed");
      assert.deepEqual(await fetchText(`/models/${job}.pt`), { status: 200, body: "model of run 2" });
      assert.deepEqual(await fetchText(`/artifacts/${job}/results.csv`), { status: 200, body: "epoch\n1 (run 2)\n" });
    });

    test("once the claim has expired, the run the projection's model names", async () => {
      const record = await putJob(h, { status: "completed", progress: 100 });
      await h.jobs.updateOne({ _id: record._id }, { $set: { model_object: runArtifact(record._id, 3, "best.pt") } });
      await stored(runArtifact(record._id, 3, "best.pt"), "model of run 3");
      assert.deepEqual(await fetchText(`/models/${record._id}.pt`), { status: 200, body: "model of run 3" });
    });
  });
});
