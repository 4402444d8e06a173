import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import {
  JobAssignment,
  terminalEventId,
  type EpochMetrics,
  type JobEvent,
  type JobOutcome,
} from "@trainyard/contracts";
import { createLogger } from "@trainyard/runtime";
import { exampleTrainRequest, memoryJobOutcomes } from "@trainyard/stack";
import { reportCancelled, type RunProgress } from "./job-results.js";
import type { RunDeps } from "./training-run.js";

const scratch = await mkdtemp(join(tmpdir(), "job-results-"));
after(() => rm(scratch, { recursive: true, force: true }));

const METRICS: EpochMetrics = {
  box_loss: 1.2,
  cls_loss: 0.9,
  dfl_loss: 1.1,
  precision: 0.4,
  recall: 0.3,
  mAP50: 0.2,
  "mAP50-95": 0.1,
};

function assignment(epochs: number): JobAssignment {
  const {
    callback_url: _url,
    callback_secret: _secret,
    ...request
  } = exampleTrainRequest({
    datasetUrl: "https://storage.example.com/shapes.zip",
    callbackUrl: "https://app.example.com/hook",
    callbackSecret: "sk_test",
    epochs,
    imageSize: 64,
    batchSize: 4,
  });
  return JobAssignment.parse({
    ...request,
    requested_at: "2025-01-01T00:00:00.000Z",
    dataset_object: "sha256/x.zip",
    dataset_root: "",
    dataset_sha256: "0".repeat(64),
    dataset_info: { total_images: 12, train_images: 8, val_images: 4, classes: ["a"], class_distribution: { a: 12 } },
    agent_id: "local-1",
    slot: { index: 0, device: "cpu", name: "CPU" },
    assigned_at: "2025-01-01T00:00:01.000Z",
  });
}

/** Runs reportCancelled with a recorded publish and upload; returns what it published and uploaded. */
async function runReportCancelled(state: RunProgress, epochs: number, claimedFirst?: JobOutcome) {
  const job = assignment(epochs);
  const jobDir = await mkdtemp(join(scratch, "job-"));
  await writeFile(join(jobDir, "logs.txt"), "epoch 1/3 …\n");
  const published: Array<{ event: JobEvent; msgId: string }> = [];
  const uploads: string[] = [];
  const outcomes = memoryJobOutcomes();
  if (claimedFirst) outcomes.claimed.set(job.job_id, claimedFirst);
  const deps = {
    files: {
      datasetArchive: () => Promise.reject(new Error("not used")),
      uploadArtifact: async (name: string) => {
        uploads.push(name);
        return 1;
      },
    },
    publish: async (event: JobEvent, msgId: string) => {
      published.push({ event, msgId });
    },
    outcomes,
    now: () => new Date("2025-01-01T00:10:00.000Z"),
  } as Partial<RunDeps> as RunDeps;
  await reportCancelled(deps, job, jobDir, state, createLogger("job-results-test", "silent"));
  return { published, uploads, job, claimed: outcomes.claimed.get(job.job_id) };
}

/** reportCancelled's one event, which must be the job's terminal CANCELLED failure. */
async function cancelledEvent(state: RunProgress, epochs = 3) {
  const { published, uploads, job, claimed } = await runReportCancelled(state, epochs);
  assert.equal(claimed, "cancelled", "the job's outcome is claimed as cancelled");
  assert.equal(published.length, 1, "exactly one event");
  const { event, msgId } = published[0]!;
  assert.equal(msgId, terminalEventId(job.job_id), "the job's one terminal message id");
  assert.ok(event.type === "failed", `expected a failed event, got ${event.type}`);
  assert.equal(event.error.code, "CANCELLED");
  return { event, uploads, job };
}

describe("reportCancelled (PRD 17.4)", () => {
  test("during the final validation: names the validating phase, the last epoch and its metrics", async () => {
    const { event, uploads, job } = await cancelledEvent({ phase: "validating", epoch: 3, metrics: METRICS });
    assert.equal(event.error.phase, "validating");
    assert.equal(event.error.epoch, 3);
    assert.match(event.error.details, /during the final validation, after epoch 3 of 3/);
    assert.deepEqual(event.partial_metrics, METRICS);
    assert.deepEqual(uploads, [`${job.job_id}/attempt-1/logs.txt`], "the training log is kept, in its run's folder");
  });

  test("mid-training: names the training phase and the last finished epoch", async () => {
    const { event } = await cancelledEvent({ phase: "training", epoch: 2, metrics: METRICS }, 10);
    assert.equal(event.error.phase, "training");
    assert.equal(event.error.epoch, 2);
    assert.match(event.error.details, /^The job was cancelled after epoch 2 of 10;/);
  });

  test("before the first epoch: no epoch, no metrics", async () => {
    const { event } = await cancelledEvent({ phase: "preparing", epoch: null, metrics: null });
    assert.equal(event.error.phase, "preparing");
    assert.equal(event.error.epoch, null);
    assert.equal(event.partial_metrics, null);
    assert.match(event.error.details, /before its first epoch finished/);
  });

  test("a job whose completion was claimed first: nothing is published", async () => {
    const { published, claimed } = await runReportCancelled(
      { phase: "validating", epoch: 3, metrics: METRICS },
      3,
      "completed",
    );
    assert.equal(claimed, "completed", "the first claim holds");
    assert.deepEqual(published, [], "no CANCELLED after the job completed");
  });
});
