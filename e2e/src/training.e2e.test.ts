/**
 * The walking skeleton end to end, through public interfaces only: REST in, signed callbacks
 * out, the model file over its signed URL. Everything is real: nats-server, FerretDB, the six
 * services, one trainer-agent, Ultralytics training on a generated dataset.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import {
  JobCancelled,
  JobView,
  TrainAccepted,
  type TrainingCompletedCallback,
  type TrainingFailedCallback,
  type TrainRequest,
} from "@trainyard/contracts";
import { repoRoot } from "@trainyard/stack";
import { processesWhose, startE2eRun, until, type E2eRun } from "./support.js";

const EPOCHS = 2;
const TRAINING_TIMEOUT_MS = 15 * 60_000;

let run: E2eRun;
let request: TrainRequest;

before(async () => {
  run = await startE2eRun({ name: "e2e", datasets: { "shapes.zip": { train: 8, val: 4, size: 64, seed: 1 } } });
  request = run.job(EPOCHS);
});

after(async () => {
  await run?.close();
});

/** A gateway call with `token` as the bearer (the API secret unless told otherwise). */
const api = (path: string, init: RequestInit = {}, token = run.stack.apiSecret) =>
  fetch(`${run.stack.gatewayUrl}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...init.headers },
  });

/** The first job's training_completed callback (asserted received by the test that waits for it). */
const completion = () =>
  run.receiver.received.find((c) => c.body.type === "training_completed")?.body as TrainingCompletedCallback;

test("POST /api/v1/train accepts the PRD 4.1 payload with 202", async () => {
  const res = await api("/api/v1/train", { method: "POST", body: JSON.stringify(request) });
  const body: unknown = await res.json();
  assert.equal(res.status, 202, `expected 202, got ${res.status}: ${JSON.stringify(body)}`);
  const accepted = TrainAccepted.parse(body);
  assert.equal(accepted.job_id, request.job_id);
  assert.equal(accepted.status, "queued");
});

test("the same job id again is a 409, and nothing is queued twice", async () => {
  const res = await api("/api/v1/train", { method: "POST", body: JSON.stringify(request) });
  assert.equal(res.status, 409);
  assert.equal(((await res.json()) as { code: string }).code, "JOB_EXISTS");
});

test("a wrong bearer token is a 401", async () => {
  const res = await api(`/api/v1/jobs/${request.job_id}`, {}, "not-the-secret");
  assert.equal(res.status, 401);
});

test("progress callbacks arrive for every epoch in order, then exactly one training_completed", async () => {
  await run.receiver.waitFor(
    (all) => all.some((c) => c.body.type === "training_completed" || c.body.type === "training_failed"),
    TRAINING_TIMEOUT_MS,
    "training_completed",
  );
  assert.deepEqual(run.receiver.rejected, [], "every callback must verify and match the contracts");
  const bodies = run.receiver.received.map((c) => c.body);
  const terminalIndex = bodies.findIndex((b) => b.type !== "training_progress");
  const terminal = bodies[terminalIndex];
  assert.equal(terminal?.type, "training_completed", `expected completion, got ${JSON.stringify(terminal)}`);
  assert.equal(bodies.filter((b) => b.type !== "training_progress").length, 1, "exactly one terminal callback");
  assert.equal(terminalIndex, bodies.length - 1, "no callback after the terminal one");

  const progress = bodies.filter((b) => b.type === "training_progress");
  const epochs = progress.filter((b) => b.progress.phase === "training").map((b) => b.progress.current_epoch);
  assert.deepEqual(
    epochs,
    Array.from({ length: EPOCHS }, (_, i) => i + 1),
    "one progress callback per epoch, in order",
  );
  const percentages = progress.map((b) => b.progress.percentage);
  assert.deepEqual(
    percentages,
    [...percentages].sort((a, b) => a - b),
    `progress never goes backwards: ${percentages.join(", ")}`,
  );
  assert.ok(
    progress.some((b) => b.progress.phase === "downloading" && b.progress.percentage === 5),
    "downloading 5%",
  );
  assert.ok(
    progress.some((b) => b.progress.phase === "validating" && b.progress.percentage === 95),
    "validating 95%",
  );
  for (const b of progress.filter((p) => p.progress.phase === "training")) {
    assert.equal(b.job_id, request.job_id);
    assert.equal(typeof b.metrics.current?.box_loss, "number", "each epoch reports its box loss");
  }
  for (const c of run.receiver.received) assert.equal(c.headers["x-job-id"], request.job_id);
});

test("training_completed carries real metrics and the dataset's facts", () => {
  const done = completion();
  assert.ok(done, "completed callback received");
  assert.equal(done.final_metrics.total_epochs, EPOCHS);
  for (const key of ["mAP50", "mAP50-95", "precision", "recall", "box_loss"] as const) {
    assert.equal(typeof done.final_metrics[key], "number", `final ${key} is a number`);
  }
  assert.ok(done.duration_seconds > 0);
  assert.equal(done.dataset_info.train_images, 8);
  assert.equal(done.dataset_info.val_images, 4);
  assert.equal(done.dataset_info.total_images, 12);
  assert.ok(done.dataset_info.classes.length >= 2, "the synthetic dataset has several classes");
  assert.equal(done.model.name, request.model_config.name);
  assert.equal(done.model.format, "pytorch");
  assert.ok(new Date(done.model.expires_at).getTime() > Date.now(), "model link not yet expired");
});

test("GET /api/v1/jobs/{id} shows completed with progress 100", async () => {
  const view = await until(
    async () => {
      const res = await api(`/api/v1/jobs/${request.job_id}`);
      assert.equal(res.status, 200);
      return JobView.parse(await res.json());
    },
    (v) => v.status === "completed",
    "the projection to show completed",
    30_000,
  );
  assert.equal(view.progress, 100);
  assert.equal(view.current_epoch, EPOCHS);
  assert.equal(view.total_epochs, EPOCHS);
  assert.ok(view.started_at, "started_at is set");
  assert.equal(typeof view.metrics?.current?.mAP50, "number");
});

test("the model URL returns a .pt file that Ultralytics loads", async () => {
  const done = completion();
  const res = await fetch(done.model.download_url);
  assert.equal(res.status, 200);
  const bytes = Buffer.from(await res.arrayBuffer());
  assert.ok(Math.abs(bytes.length / 1024 / 1024 - done.model.size_mb) < 0.01, "size_mb matches the file");
  const path = join(run.dir, "downloaded.pt");
  writeFileSync(path, bytes);
  const python = join(repoRoot, ".venv", "bin", "python");
  const { stdout } = await promisify(execFile)(
    python,
    ["-c", "import sys; from ultralytics import YOLO; m = YOLO(sys.argv[1]); print(m.task, len(m.names))", path],
    { env: { ...process.env, YOLO_OFFLINE: "true", YOLO_CONFIG_DIR: join(run.dir, "yolo-config") } },
  );
  // Ultralytics greets a new config folder first; the script's own answer is the last line
  const answer = stdout.trim().split("\n").at(-1) ?? "";
  assert.match(answer, /^detect \d+$/, `the model loads as a detector: ${stdout}`);
  const tampered = await fetch(done.model.download_url.replace(/signature=[^&]+/, "signature=forged"));
  assert.equal(tampered.status, 403, "a forged signature is refused");
  const logs = await fetch(done.artifacts.training_logs ?? "");
  assert.equal(logs.status, 200, "training logs are downloadable");
});

test("DELETE cancels a queued job at once and a training job for real, keeping its partial metrics", async () => {
  const training = run.job(200);
  const queued = run.job(2);
  await run.submit(training);
  await run.receiver.waitFor(trained(training.job_id), TRAINING_TIMEOUT_MS, "the long job's first epoch");
  // the only slot is busy, so this one waits in the queue
  await run.submit(queued);

  for (const job of [queued, training]) {
    const res = await api(`/api/v1/jobs/${job.job_id}`, { method: "DELETE" });
    assert.equal(res.status, 200, `DELETE of ${job.job_id}`);
    assert.deepEqual(JobCancelled.parse(await res.json()), {
      job_id: job.job_id,
      status: "cancelled",
      message: "Job cancelled successfully",
    });
    const view = JobView.parse(await (await api(`/api/v1/jobs/${job.job_id}`)).json());
    assert.equal(view.status, "cancelled", "a GET right after the DELETE shows the cancellation");
  }

  const failedOf = (jobId: string) =>
    run.callbacksOf(jobId).find((b): b is TrainingFailedCallback => b.type === "training_failed");
  await run.receiver.waitFor(
    () => failedOf(queued.job_id) !== undefined && failedOf(training.job_id) !== undefined,
    60_000,
    "both CANCELLED callbacks",
  );
  const queuedFailure = failedOf(queued.job_id);
  assert.equal(queuedFailure?.error.code, "CANCELLED");
  assert.equal(queuedFailure?.partial_metrics, null, "a job that never trained has no metrics");
  assert.ok(!trained(queued.job_id)(), "the cancelled queued job never trained");

  const trainingFailure = failedOf(training.job_id);
  assert.equal(trainingFailure?.error.code, "CANCELLED");
  assert.ok((trainingFailure?.error.epoch ?? 0) >= 1, "the failure names the last finished epoch");
  assert.equal(typeof trainingFailure?.partial_metrics?.box_loss, "number", "partial metrics are kept");
  const jobDir = join(run.stackDir, "agent-local-1", training.job_id);
  const logs = readFileSync(join(jobDir, "logs.txt"), "utf8");
  assert.ok(logs.length > 0, "the training log is kept");
  assert.deepEqual(processesUnder(jobDir), [], "the trainer was stopped");

  const again = await api(`/api/v1/jobs/${training.job_id}`, { method: "DELETE" });
  assert.equal(again.status, 200, "cancelling twice answers the same way");
  assert.equal(JobCancelled.parse(await again.json()).status, "cancelled");
  const finished = await api(`/api/v1/jobs/${request.job_id}`, { method: "DELETE" });
  assert.equal(finished.status, 409, "a completed job cannot be cancelled");

  for (const job of [queued, training]) {
    const bodies = run.callbacksOf(job.job_id);
    assert.equal(bodies.at(-1)?.type, "training_failed", "nothing follows the terminal callback");
    assert.equal(bodies.filter((b) => b.type !== "training_progress").length, 1, "one terminal callback");
  }
});

test("stopping the stack mid-training leaves no process behind", async () => {
  const long = run.job(200);
  await run.submit(long);
  await run.receiver.waitFor(trained(long.job_id), TRAINING_TIMEOUT_MS, "the long job's first epoch");
  assert.ok(processesUnder(run.stackDir).length > 0, "the trainer of the long job runs from the stack's folder");
  const pids = run.stack.processes.map((p) => p.child.pid);
  await run.stack.stop();
  for (const pid of pids) {
    assert.throws(() => process.kill(pid ?? -1, 0), `process ${pid} is gone`);
  }
  assert.deepEqual(processesUnder(run.stackDir), [], "no trainer or server outlives the stack");
});

/** Whether a job has reported a finished epoch yet. */
function trained(jobId: string): () => boolean {
  return () => run.epochsOf(jobId).length > 0;
}

/** Processes whose command line names `folder` (servers' data dirs, the trainer's job file). */
function processesUnder(folder: string): string[] {
  return processesWhose((cmdline) => cmdline.includes(folder));
}
