/**
 * Retention end to end, with short bounds configured: a finished job's keys (outcome,
 * cancellation, callback target), its dataset archive and its artifacts disappear on schedule,
 * while a job that is still training keeps all of its own — among them an archive it shares with
 * a job that finished, and a checkpoint older than the artifacts' age would allow, were it not
 * rewritten every epoch. The stack is the real one (secured NATS, two agents, real trainings);
 * the buckets and stores are read as the NATS admin user, since retention has no REST face
 * besides the downloads.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { Bucket, type TrainingCompletedCallback, type TrainRequest } from "@trainyard/contracts";
import { connectNats, openKv, openObjectStore, type KV, type ObjectStore } from "@trainyard/runtime";
import { startE2eRun, until, type E2eRun } from "./support.js";

/** The artifacts' age: a running job's checkpoint must be rewritten (every epoch, ~2 s) well within it. */
const ARTIFACTS_MAX_AGE_S = 15;
const TIMEOUT_MS = 5 * 60_000;

let run: E2eRun;
let admin: Awaited<ReturnType<typeof connectNats>>;
let kv: Record<"outcomes" | "cancellations" | "targets" | "queue", KV>;
let datasets: ObjectStore;
let artifacts: ObjectStore;

before(async () => {
  run = await startE2eRun({
    name: "retention",
    stack: {
      agents: 2,
      env: {
        AGENT_DEVICES: "cpu",
        SCHEDULER_FINISHED_JOB_TTL: "2s",
        CALLBACK_RETRY_SCHEDULE: "100ms,200ms",
        CALLBACK_RETRY_JITTER: "0",
        CALLBACK_TARGET_TTL: "2s",
        DATASET_ARCHIVE_GRACE: "1s",
        DATASET_SWEEP_INTERVAL: "500ms",
        NATS_ARTIFACTS_MAX_AGE: `${ARTIFACTS_MAX_AGE_S}s`,
        // the running job's checkpoint is rewritten every epoch, well within that age
        CHECKPOINT_UPLOAD_SHARE: "1",
      },
    },
    datasets: {
      "running.zip": { train: 8, val: 4, size: 64, seed: 21 },
      "finished.zip": { train: 8, val: 4, size: 64, seed: 22 },
    },
  });
  admin = await run.adminNats("retention-e2e");
  kv = {
    outcomes: await openKv(admin, Bucket.jobOutcomes),
    cancellations: await openKv(admin, Bucket.cancellations),
    targets: await openKv(admin, Bucket.callbackTargets),
    queue: await openKv(admin, Bucket.queue),
  };
  datasets = await openObjectStore(admin, Bucket.datasets);
  artifacts = await openObjectStore(admin, Bucket.artifacts);
});

after(async () => {
  await admin?.close();
  await run?.close();
});

const hasKey = async (bucket: KV, jobId: string) => (await bucket.get(jobId))?.operation === "PUT";
const archiveOf = (file: string) =>
  `sha256/${createHash("sha256")
    .update(readFileSync(join(run.dir, file)))
    .digest("hex")}.zip`;
const hasObject = async (store: ObjectStore, name: string) => {
  const info = await store.info(name);
  return info !== null && !info.deleted;
};
const artifactsOf = async (jobId: string) =>
  (await artifacts.list()).filter((o) => !o.deleted && o.name.startsWith(`${jobId}/`)).map((o) => o.name);
const terminalOf = (jobId: string) =>
  run.callbacksOf(jobId).find((c) => c.type === "training_completed" || c.type === "training_failed");

/** Submits a job and waits for its terminal callback; returns it. */
async function finish(request: TrainRequest) {
  await run.submit(request);
  await run.receiver.waitFor(
    () => terminalOf(request.job_id) !== undefined,
    TIMEOUT_MS,
    `the end of ${request.model_config.name}`,
  );
  return terminalOf(request.job_id)!;
}

test("a finished job's keys, archive and artifacts disappear on schedule; a running job's are kept", async () => {
  const running = run.job(500, { datasetUrl: run.files.urlOf("running.zip"), name: "running" });
  await run.submit(running);
  await until(
    async () => run.epochsOf(running.job_id).length,
    (epochs) => epochs >= 1,
    "the long job's first epoch",
    TIMEOUT_MS,
  );

  // finishes on the other agent; its archive is its own
  const finished = run.job(1, { datasetUrl: run.files.urlOf("finished.zip"), name: "finished" });
  const completed = (await finish(finished)) as TrainingCompletedCallback;
  assert.equal(completed.type, "training_completed", `the short job completes: ${JSON.stringify(completed)}`);
  // finishes too, on the archive the running job still trains on
  const sharing = run.job(1, { datasetUrl: run.files.urlOf("running.zip"), name: "sharing" });
  assert.equal((await finish(sharing)).type, "training_completed");
  // cancelled before it could start: its outcome and cancellation are written, then expire
  const cancelled = run.job(1, { datasetUrl: run.files.urlOf("finished.zip"), name: "cancelled" });
  await run.submit(cancelled);
  const res = await run.stack.api(`/api/v1/jobs/${cancelled.job_id}`, { method: "DELETE" });
  assert.equal(res.status, 200, `DELETE answers 200: ${await res.text()}`);
  await run.receiver.waitFor(() => terminalOf(cancelled.job_id) !== undefined, TIMEOUT_MS, "the cancelled job's end");

  const finishedIds = [finished.job_id, sharing.job_id, cancelled.job_id];
  await until(
    async () => ({
      outcomes: await Promise.all(finishedIds.map((id) => hasKey(kv.outcomes, id))),
      targets: await Promise.all(finishedIds.map((id) => hasKey(kv.targets, id))),
      cancellation: await hasKey(kv.cancellations, cancelled.job_id),
      archive: await hasObject(datasets, archiveOf("finished.zip")),
      artifacts: [...(await artifactsOf(finished.job_id)), ...(await artifactsOf(sharing.job_id))],
    }),
    (left) =>
      !left.outcomes.some(Boolean) &&
      !left.targets.some(Boolean) &&
      !left.cancellation &&
      !left.archive &&
      left.artifacts.length === 0,
    "the finished jobs' outcomes, callback targets, cancellation, archive and artifacts to disappear",
    TIMEOUT_MS,
  );
  const model = await fetch(completed.model.download_url);
  assert.equal(model.status, 404, "the model's download link (still signed as valid) finds no model any more");

  // the running job kept everything, although it is older than every bound above
  const epochs = run.epochsOf(running.job_id).length;
  assert.ok(
    !terminalOf(running.job_id) && (await hasKey(kv.queue, running.job_id)),
    "the long job is still running, in the queue",
  );
  assert.ok(await hasKey(kv.targets, running.job_id), "the running job's callback target is kept");
  assert.ok(
    await hasObject(datasets, archiveOf("running.zip")),
    "the running job's archive is kept, though a job that shared it finished",
  );
  const checkpoint = await artifacts.info(`${running.job_id}/attempt-1/last.pt`);
  // it trained since before the finished jobs' artifacts were written, and they expired by age
  assert.ok(checkpoint && !checkpoint.deleted, "the running job's checkpoint, rewritten every epoch, is kept");
  await until(
    async () => run.epochsOf(running.job_id).length,
    (n) => n > epochs,
    "the running job to report another epoch",
    TIMEOUT_MS,
  );

  const stop = await run.stack.api(`/api/v1/jobs/${running.job_id}`, { method: "DELETE" });
  assert.equal(stop.status, 200);
});
