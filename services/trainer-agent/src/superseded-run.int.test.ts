/**
 * The partition case (issue 15): a run the scheduler replaced, because its agent went silent
 * (stopped, partitioned) while its trainer kept going, reports nothing once replaced: no epoch,
 * no checkpoint, no claim, no terminal event. And a run whose agent claimed the job's outcome but
 * died before publishing it is finished by the job's next run, which publishes that claim's event.
 *
 * The queue, the job-outcomes bucket and the JOB_EVENTS stream are a real nats-server's. The
 * trainer is scripted: a run is replaced between two of its epochs, a moment a real trainer's
 * timing cannot hit on purpose (the faults e2e test stops a real agent for that, with a real
 * trainer); uploads are recorded, as the object store plays no part in what is decided here.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { jetstream, type JetStreamClient } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  JOB_EVENTS_STREAM,
  JobAssignment,
  JobEvent,
  runArtifact,
  TRAINER_PROTOCOL_VERSION,
  type QueueEntry,
  type TerminalJobEvent,
  type TrainerEvent,
} from "@trainyard/contracts";
import {
  connectNats,
  createLogger,
  DEFAULT_ZIP_LIMITS,
  ensureStreams,
  openJobOutcomes,
  openJobQueue,
  publishJobEvent,
  type Delivery,
  type JobOutcomes,
  type JobQueue,
} from "@trainyard/runtime";
import { buildZip, exampleTrainRequest, startNats, type Supervised } from "@trainyard/stack";
import type { TrainerRun } from "./adapters/trainer-process.js";
import { UploadRate } from "./checkpoint-uploads.js";
import { runAssignment, type RunDeps } from "./training-run.js";

const AGENT = "partitioned-agent";
let tmp = "";
let nats: { url: string; process: Supervised };
let nc: NatsConnection;
let js: JetStreamClient;
let queue: JobQueue;
let outcomes: JobOutcomes;
let archive = "";

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), "superseded-run-"));
  nats = await startNats(join(tmp, "nats"), () => {});
  nc = await connectNats(nats.url, "superseded-run-test");
  await ensureStreams(nc);
  js = jetstream(nc);
  queue = await openJobQueue(nc);
  outcomes = await openJobOutcomes(nc);
  archive = join(tmp, "dataset.zip");
  await writeFile(archive, buildZip([{ name: "images/train/a.jpg", data: "x" }]));
});

after(async () => {
  await nc?.close();
  await nats?.process.stop();
  await rm(tmp, { recursive: true, force: true });
});

/** Run `attempt` of a new job, placed on this agent in the queue as the scheduler would. */
async function placedRun(attempt: number): Promise<JobAssignment> {
  const {
    callback_url: _u,
    callback_secret: _s,
    ...request
  } = exampleTrainRequest({
    datasetUrl: "https://storage.example.com/shapes.zip",
    callbackUrl: "https://app.example.com/hook",
    callbackSecret: "sk_test",
    epochs: 2,
    imageSize: 64,
    batchSize: 4,
  });
  const job = JobAssignment.parse({
    ...request,
    job_id: randomUUID(),
    requested_at: "2025-01-01T00:00:00.000Z",
    dataset_object: "sha256/x.zip",
    dataset_root: "",
    dataset_sha256: "0".repeat(64),
    dataset_info: { total_images: 2, train_images: 1, val_images: 1, classes: ["a"], class_distribution: { a: 2 } },
    agent_id: AGENT,
    slot: { index: 0, device: "cpu", name: "CPU" },
    assigned_at: "2025-01-01T00:00:01.000Z",
    attempt,
  });
  const { agent_id: _a, slot, assigned_at, attempt: _n, resume_from, ...ready } = job;
  const entry: QueueEntry = {
    job: ready,
    priority: "normal",
    seq: 1,
    enqueued_at: assigned_at,
    attempt,
    resume_from,
    placement: { agent_id: AGENT, slot, assigned_at },
  };
  assert.ok(await queue.enqueue(entry));
  return job;
}

/** What the scheduler does when this agent's heartbeat expired: the job runs again elsewhere. */
async function replace(job: JobAssignment): Promise<void> {
  const stored = await queue.get(job.job_id);
  assert.ok(stored?.entry.placement);
  const placement = { ...stored.entry.placement, agent_id: "other-agent" };
  const next = { ...stored.entry, attempt: job.attempt + 1, placement };
  assert.notEqual(await queue.update(next, stored.revision), null);
  assert.equal(await outcomes.fence(job.job_id, job.attempt + 1), null);
}

/** The job's events in the stream, in order. */
async function eventsOf(jobId: string): Promise<JobEvent[]> {
  const consumer = await js.consumers.get(JOB_EVENTS_STREAM, {
    filter_subjects: [`job.events.${jobId}.>`],
  });
  const info = await consumer.info();
  const events: JobEvent[] = [];
  if (info.num_pending === 0) return events;
  const batch = await consumer.fetch({ max_messages: info.num_pending, expires: 2_000 });
  for await (const msg of batch) {
    events.push(JobEvent.parse(msg.json()));
    if (msg.info.pending === 0) break;
  }
  return events;
}

const METRICS = {
  box_loss: 1,
  cls_loss: 1,
  dfl_loss: 1,
  precision: 0.5,
  recall: 0.5,
  mAP50: 0.5,
  "mAP50-95": 0.3,
};
const RESOURCES = {
  gpu_utilization: null,
  memory_used_gb: null,
  temperature_c: null,
  cpu_utilization: 50,
  ram_used_gb: 1,
};

/** A trainer's report of epoch `epoch` of 2, followed by its checkpoint (written to `jobDir`). */
async function* epoch(jobDir: string, n: number): AsyncGenerator<TrainerEvent> {
  const checkpoint = join(jobDir, "last.pt");
  await writeFile(checkpoint, `weights after epoch ${n}`);
  yield* [
    {
      v: TRAINER_PROTOCOL_VERSION,
      type: "epoch",
      epoch: n,
      total_epochs: 2,
      metrics: METRICS,
      best: null,
      epoch_seconds: 1,
      eta_seconds: 1,
      resources: RESOURCES,
    },
    { v: TRAINER_PROTOCOL_VERSION, type: "artifact", name: "last.pt", path: checkpoint, epoch: n },
  ] satisfies TrainerEvent[];
}

/**
 * A trainer that reports epoch 1, waits for `between` (the test replaces the run meanwhile),
 * then reports epoch 2, the final validation and done, unless it was killed first.
 */
function scriptedTrainer(
  between: () => Promise<void>,
  end: { code: number | null; signal: NodeJS.Signals | null } = { code: 0, signal: null },
): { launch: RunDeps["launch"]; killed: () => boolean } {
  let killed = false;
  const launch: RunDeps["launch"] = ({ cwd, logFile }) => {
    let exit: (value: { code: number | null; signal: NodeJS.Signals | null }) => void = () => {};
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => (exit = r));
    async function* events(): AsyncGenerator<TrainerEvent> {
      await writeFile(logFile, "training…\n");
      yield {
        v: TRAINER_PROTOCOL_VERSION,
        type: "phase",
        phase: "training",
        start_epoch: 1,
        total_epochs: 2,
        resumed: false,
        batch_size: 4,
        image_size: 64,
        device: "cpu",
      };
      yield* epoch(cwd, 1);
      await between();
      if (killed) return exit({ code: null, signal: "SIGTERM" });
      yield* epoch(cwd, 2);
      yield { v: TRAINER_PROTOCOL_VERSION, type: "phase", phase: "validating" };
      yield {
        v: TRAINER_PROTOCOL_VERSION,
        type: "done",
        best_pt: join(cwd, "best.pt"),
        final_metrics: { ...METRICS, best_epoch: 2, total_epochs: 2 },
      };
      exit(end);
    }
    const run: TrainerRun = {
      events: events(),
      exited,
      kill: () => {
        killed = true;
      },
    };
    return run;
  };
  return { launch, killed: () => killed };
}

function agentDeps(launch: RunDeps["launch"]): { deps: RunDeps; uploads: string[] } {
  const uploads: string[] = [];
  const deps: RunDeps = {
    files: {
      datasetArchive: async () => archive,
      uploadArtifact: async (objectName) => {
        uploads.push(objectName);
        return 3;
      },
    },
    checkpoints: {
      objectName: (jobId, attempt) => runArtifact(jobId, attempt, "last.pt"),
      latest: async () => null,
      fetch: () => Promise.reject(new Error("no checkpoint in these cases")),
    },
    checkpointShare: 1,
    uploadRate: new UploadRate(),
    agentId: AGENT,
    async placementOf(jobId) {
      const stored = await queue.get(jobId);
      const placement = stored?.entry.placement;
      return placement ? { agent_id: placement.agent_id, attempt: stored.entry.attempt } : null;
    },
    maxRunAttempts: 3,
    publish: (event, msgId) => publishJobEvent(js, event, msgId),
    outcomes,
    launch,
    python: "python3",
    weightsDir: null,
    workDir: tmp,
    defaultWorkers: 0,
    trainerEnv: {},
    zipLimits: DEFAULT_ZIP_LIMITS,
    log: createLogger("superseded-run-test", "silent"),
    now: () => new Date(),
    shutdown: new AbortController().signal,
    cancellation: async () => ({ signal: new AbortController().signal, release: () => {} }),
  };
  return { deps, uploads };
}

const delivery: Delivery = { subject: `train.assign.${AGENT}`, attempt: 1, streamSequence: 1, working: () => {} };

describe("a run the scheduler replaced", () => {
  test("chaos seeds 4 and 6: reports nothing after it was replaced mid-training: no epoch, no checkpoint, no claim", async () => {
    const job = await placedRun(1);
    const trainer = scriptedTrainer(() => replace(job));
    const { deps, uploads } = agentDeps(trainer.launch);
    const outcome = await runAssignment(deps, job, delivery);
    assert.equal(outcome.kind, "ack", "the assignment is done with: it is not this agent's any more");
    assert.ok(trainer.killed(), "its trainer was stopped");
    const epochs = (await eventsOf(job.job_id)).flatMap((e) => (e.type === "epoch" ? [e.epoch] : []));
    assert.deepEqual(epochs, [1], "epoch 1, reported while the run was current, and nothing after");
    assert.deepEqual(uploads, [runArtifact(job.job_id, 1, "last.pt")], "only its own checkpoint of epoch 1");
    assert.equal(await outcomes.read(job.job_id).then((r) => r?.outcome ?? null), null, "no outcome claimed");
  });

  test("replaced between its last check and its claim: the fence refuses the claim, nothing is published", async () => {
    const job = await placedRun(1);
    // the scheduler fenced the run out, but this agent's read of the queue still shows it placed
    const trainer = scriptedTrainer(() => outcomes.fence(job.job_id, 2).then(() => undefined));
    const { deps, uploads } = agentDeps(trainer.launch);
    const outcome = await runAssignment(deps, job, delivery);
    assert.equal(outcome.kind, "ack");
    const events = await eventsOf(job.job_id);
    assert.ok(!events.some((e) => e.type === "completed" || e.type === "failed"), "no terminal event");
    assert.ok(
      uploads.every((name) => name.startsWith(`${job.job_id}/attempt-1/`)),
      `its files stay in its own folder: ${uploads.join(", ")}`,
    );
    assert.equal((await outcomes.read(job.job_id))?.outcome, null, "the job's outcome is left to run 2");
  });
});

describe("a run after a run that claimed the outcome and died", () => {
  test("publishes that claim's terminal event and trains nothing", async () => {
    const job = await placedRun(2);
    const claimed: TerminalJobEvent = {
      type: "completed",
      job_id: job.job_id,
      at: new Date().toISOString(),
      started_at: new Date().toISOString(),
      duration_seconds: 3,
      model: { name: "m", object_name: runArtifact(job.job_id, 1, "best.pt"), size_bytes: 3 },
      final_metrics: { ...METRICS, best_epoch: 2, total_epochs: 2 },
      artifacts: { confusion_matrix: null, pr_curve: null, f1_curve: null, results_csv: null, training_logs: null },
      dataset_info: job.dataset_info,
    };
    assert.equal(await outcomes.claimRun(job.job_id, "completed", { attempt: 1, event: claimed }), "completed");
    let launched = false;
    const { deps } = agentDeps(() => {
      launched = true;
      throw new Error("no training expected");
    });
    const outcome = await runAssignment(deps, job, delivery);
    assert.equal(outcome.kind, "ack");
    assert.ok(!launched, "nothing was trained");
    const terminal = (await eventsOf(job.job_id)).filter((e) => e.type === "completed");
    assert.deepEqual(terminal, [claimed], "the claiming run's event, naming its files");
  });
});

describe("a trainer killed after it reported done", () => {
  test("chaos seed 8: its results stand: the run uploads them and completes", async () => {
    const job = await placedRun(1);
    // SIGKILLed between its `done` and its exit (by a fault, or its host stopping)
    const trainer = scriptedTrainer(async () => {}, { code: null, signal: "SIGKILL" });
    const { deps, uploads } = agentDeps(trainer.launch);
    const outcome = await runAssignment(deps, job, delivery);
    assert.equal(outcome.kind, "ack");
    const terminal = (await eventsOf(job.job_id)).filter((e) => e.type === "completed" || e.type === "failed");
    assert.deepEqual(
      terminal.map((e) => e.type),
      ["completed"],
      `completed, not failed: ${JSON.stringify(terminal)}`,
    );
    assert.ok(uploads.includes(runArtifact(job.job_id, 1, "best.pt")), `its model was stored: ${uploads.join(", ")}`);
  });
});
