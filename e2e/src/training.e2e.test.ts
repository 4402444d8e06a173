/**
 * The walking skeleton end to end, through public interfaces only: REST in, signed callbacks
 * out, the model file over its signed URL. Everything is real: nats-server, FerretDB, the six
 * services, one trainer-agent, Ultralytics training on a generated dataset.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { createWriteStream, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
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
import {
  exampleTrainRequest,
  makeSyntheticDataset,
  repoRoot,
  serveFiles,
  startCallbackReceiver,
  startStack,
  type CallbackReceiver,
  type ReceivedCallback,
  type FileServer,
  type Stack,
} from "@trainyard/stack";

const EPOCHS = 2;
const TRAINING_TIMEOUT_MS = 15 * 60_000;

let dir: string;
let stack: Stack;
let files: FileServer;
let receiver: CallbackReceiver;
let secret: string;
let request: TrainRequest;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "trainyard-e2e-"));
  const log = createWriteStream(join(dir, "stack.log"));
  stack = await startStack({ runDir: join(dir, "stack"), sink: (name, line) => log.write(`${name} | ${line}\n`) });
  await makeSyntheticDataset({ out: join(dir, "shapes.zip"), train: 8, val: 4, size: 64, seed: 1 });
  files = await serveFiles(dir);
  secret = `sk_test_${randomBytes(12).toString("hex")}`;
  receiver = await startCallbackReceiver(secret);
  request = exampleTrainRequest({
    datasetUrl: files.urlOf("shapes.zip"),
    callbackUrl: receiver.url,
    callbackSecret: secret,
    epochs: EPOCHS,
    imageSize: 64,
    batchSize: 4,
  });
  console.log(`stack logs: ${join(dir, "stack.log")}`);
});

after(async () => {
  await receiver?.close();
  await files?.close();
  await stack?.stop();
});

const api = (path: string, init: RequestInit = {}, token = stack.apiSecret) =>
  fetch(`${stack.gatewayUrl}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...init.headers },
  });

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
  await receiver.waitFor(
    (all) => all.some((c) => c.body.type === "training_completed" || c.body.type === "training_failed"),
    TRAINING_TIMEOUT_MS,
    "training_completed",
  );
  assert.deepEqual(receiver.rejected, [], "every callback must verify and match the contracts");
  const bodies = receiver.received.map((c) => c.body);
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
  for (const c of receiver.received) assert.equal(c.headers["x-job-id"], request.job_id);
});

test("training_completed carries real metrics and the dataset's facts", () => {
  const done = receiver.received.find((c) => c.body.type === "training_completed")?.body as TrainingCompletedCallback;
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
  const deadline = Date.now() + 30_000;
  let view: JobView | undefined;
  while (Date.now() < deadline) {
    const res = await api(`/api/v1/jobs/${request.job_id}`);
    assert.equal(res.status, 200);
    view = JobView.parse(await res.json());
    if (view.status === "completed") break;
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.equal(view?.status, "completed", `projection status: ${JSON.stringify(view)}`);
  assert.equal(view.progress, 100);
  assert.equal(view.current_epoch, EPOCHS);
  assert.equal(view.total_epochs, EPOCHS);
  assert.ok(view.started_at, "started_at is set");
  assert.equal(typeof view.metrics?.current?.mAP50, "number");
});

test("the model URL returns a .pt file that Ultralytics loads", async () => {
  const done = receiver.received.find((c) => c.body.type === "training_completed")?.body as TrainingCompletedCallback;
  const res = await fetch(done.model.download_url);
  assert.equal(res.status, 200);
  const bytes = Buffer.from(await res.arrayBuffer());
  assert.ok(Math.abs(bytes.length / 1024 / 1024 - done.model.size_mb) < 0.01, "size_mb matches the file");
  const path = join(dir, "downloaded.pt");
  writeFileSync(path, bytes);
  const python = join(repoRoot, ".venv", "bin", "python");
  const { stdout } = await promisify(execFile)(
    python,
    ["-c", "import sys; from ultralytics import YOLO; m = YOLO(sys.argv[1]); print(m.task, len(m.names))", path],
    { env: { ...process.env, YOLO_OFFLINE: "true", YOLO_CONFIG_DIR: join(dir, "yolo-config") } },
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
  const slow = (epochs: number) => ({
    ...request,
    job_id: randomUUID(),
    model_config: { ...request.model_config, epochs },
  });
  const training = slow(200);
  const queued = slow(2);
  const isEpochOf = (jobId: string) => (all: ReceivedCallback[]) =>
    all.some(
      (c) => c.body.job_id === jobId && c.body.type === "training_progress" && c.body.progress.phase === "training",
    );
  assert.equal((await api("/api/v1/train", { method: "POST", body: JSON.stringify(training) })).status, 202);
  await receiver.waitFor(isEpochOf(training.job_id), TRAINING_TIMEOUT_MS, "the long job's first epoch");
  // the only slot is busy, so this one waits in the queue
  assert.equal((await api("/api/v1/train", { method: "POST", body: JSON.stringify(queued) })).status, 202);

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
    receiver.received.find((c) => c.body.job_id === jobId && c.body.type === "training_failed")?.body as
      TrainingFailedCallback | undefined;
  await receiver.waitFor(
    () => failedOf(queued.job_id) !== undefined && failedOf(training.job_id) !== undefined,
    60_000,
    "both CANCELLED callbacks",
  );
  const queuedFailure = failedOf(queued.job_id);
  assert.equal(queuedFailure?.error.code, "CANCELLED");
  assert.equal(queuedFailure?.partial_metrics, null, "a job that never trained has no metrics");
  assert.ok(!isEpochOf(queued.job_id)(receiver.received), "the cancelled queued job never trained");

  const trainingFailure = failedOf(training.job_id);
  assert.equal(trainingFailure?.error.code, "CANCELLED");
  assert.ok((trainingFailure?.error.epoch ?? 0) >= 1, "the failure names the last finished epoch");
  assert.equal(typeof trainingFailure?.partial_metrics?.box_loss, "number", "partial metrics are kept");
  const runDir = join(dir, "stack");
  const logs = readFileSync(join(runDir, "agent-local-1", training.job_id, "logs.txt"), "utf8");
  assert.ok(logs.length > 0, "the training log is kept");
  assert.deepEqual(processesUnder(join(runDir, "agent-local-1", training.job_id)), [], "the trainer was stopped");

  const again = await api(`/api/v1/jobs/${training.job_id}`, { method: "DELETE" });
  assert.equal(again.status, 200, "cancelling twice answers the same way");
  assert.equal(JobCancelled.parse(await again.json()).status, "cancelled");
  const finished = await api(`/api/v1/jobs/${request.job_id}`, { method: "DELETE" });
  assert.equal(finished.status, 409, "a completed job cannot be cancelled");

  for (const job of [queued, training]) {
    const callbacks = receiver.received.filter((c) => c.body.job_id === job.job_id);
    assert.equal(callbacks.at(-1)?.body.type, "training_failed", "nothing follows the terminal callback");
    assert.equal(callbacks.filter((c) => c.body.type !== "training_progress").length, 1, "one terminal callback");
  }
});

test("stopping the stack mid-training leaves no process behind", async () => {
  const long = { ...request, job_id: randomUUID(), model_config: { ...request.model_config, epochs: 200 } };
  const res = await api("/api/v1/train", { method: "POST", body: JSON.stringify(long) });
  assert.equal(res.status, 202);
  await receiver.waitFor(
    (all) =>
      all.some(
        (c) =>
          c.body.job_id === long.job_id && c.body.type === "training_progress" && c.body.progress.phase === "training",
      ),
    TRAINING_TIMEOUT_MS,
    "the long job's first epoch",
  );
  const runDir = join(dir, "stack");
  assert.ok(processesUnder(runDir).length > 0, "the trainer of the long job runs from the stack's folder");
  const pids = stack.processes.map((p) => p.child.pid);
  await stack.stop();
  for (const pid of pids) {
    assert.throws(() => process.kill(pid ?? -1, 0), `process ${pid} is gone`);
  }
  assert.deepEqual(processesUnder(runDir), [], "no trainer or server outlives the stack");
});

/** Processes whose command line names `folder` (servers' data dirs, the trainer's job file). */
function processesUnder(folder: string): string[] {
  return readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(folder);
      } catch {
        return false; // exited while we looked
      }
    });
}
