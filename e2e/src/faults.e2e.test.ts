/**
 * Infrastructure faults at chosen moments of a job (issue 15), each one a regression test of a
 * fault that once cost a job: an infrastructure fault costs a retry, never a job, and the app
 * still gets every epoch once, in order, and exactly one terminal callback.
 *
 * - One job meets a NATS restart (SIGKILL, then the same server again) in each of its phases:
 *   while the dataset service takes its dataset in, while an agent publishes its epoch events,
 *   and while it uploads the trained model; each time the server stays down until the service has
 *   met the outage, so the fault lands where it says.
 * - An agent is killed (with its trainer, as a dying host) during the final validation and
 *   during the upload of the results: the job's next run, on another agent, finds a checkpoint
 *   that holds every epoch and only validates it and completes.
 * - An agent is stopped (SIGSTOP; its trainer runs on, as on a partitioned host) until its
 *   heartbeat expires; the job completes on another agent; then the agent is continued: it
 *   reports nothing, and the model the app downloads is the completing run's.
 *
 * Four agents: the three agent faults run at once, each on its own agent, and the fourth takes
 * the jobs' next runs, so the three heartbeat expiries are waited for together.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  JOB_EVENTS_STREAM,
  runArtifact,
  type TrainingCompletedCallback,
  type TrainRequest,
} from "@trainyard/contracts";
import { ensureStreams, openObjectStore, type ObjectStore } from "@trainyard/runtime";
import { Bucket } from "@trainyard/contracts";
import type { Supervised } from "@trainyard/stack";
import { startE2eRun, until, type E2eRun } from "./support.js";

const TIMEOUT_MS = 4 * 60_000;
/** How long a NATS outage may take to be met by the service it is aimed at. */
const OUTAGE_MET_MS = 60_000;
const NATS_UNAVAILABLE = "NATS unavailable: trying again";

/** One line a stack process wrote; its JSON fields when it is a service's log line. */
interface LogLine {
  name: string;
  msg?: string;
  job_id?: string;
  [field: string]: unknown;
}

/**
 * Every line of the stack's processes, with waits on them and one-shot triggers that run as the
 * line is read (a fault aimed at a moment must not wait for a poll).
 */
class LogLines {
  readonly lines: LogLine[] = [];
  private readonly triggers = new Set<{ match: (line: LogLine) => boolean; act: (line: LogLine) => void }>();

  push(name: string, text: string): void {
    let line: LogLine = { name };
    if (text.startsWith("{")) {
      try {
        line = { ...(JSON.parse(text) as Record<string, unknown>), name };
      } catch {
        // not a service's JSON line
      }
    }
    this.lines.push(line);
    for (const trigger of this.triggers) {
      if (!trigger.match(line)) continue;
      this.triggers.delete(trigger);
      trigger.act(line);
    }
  }

  /** Runs `act` on the first line from now on that matches, as it is read. */
  on(match: (line: LogLine) => boolean, act: (line: LogLine) => void): void {
    this.triggers.add({ match, act });
  }

  /** Runs `act` as the last of the lines matching each of `matches` is read, on that line. */
  onAll(matches: Array<(line: LogLine) => boolean>, act: (line: LogLine) => void): void {
    let left = matches.length;
    for (const match of matches) this.on(match, (line) => --left === 0 && act(line));
  }

  /** The first line at or after index `from` that matches, once it was written. */
  async next(match: (line: LogLine) => boolean, what: string, from = 0, timeoutMs = TIMEOUT_MS): Promise<LogLine> {
    let found: LogLine | undefined;
    await until(
      async () => (found = this.lines.slice(from).find(match)),
      (line) => line !== undefined,
      what,
      timeoutMs,
    );
    return found as LogLine;
  }
}

const logs = new LogLines();
let run: E2eRun;
let artifacts: ObjectStore;
let jsm: Awaited<ReturnType<typeof ensureStreams>>;
let admin: Awaited<ReturnType<E2eRun["adminNats"]>> | undefined;

before(async () => {
  run = await startE2eRun({
    name: "faults",
    stack: {
      agents: 4,
      // every epoch's checkpoint is uploaded, so a fault meets a stored one at a known epoch
      // (production paces uploads by their cost: checkpoint-uploads.test.ts, bench/nats-cluster.js)
      env: { CHECKPOINT_UPLOAD_SHARE: "1" },
    },
    watch: (name, line) => logs.push(name, line),
    datasets: { "shapes.zip": { train: 16, val: 4, size: 64, seed: 5 } },
  });
  admin = await run.adminNats("faults-test");
  artifacts = await openObjectStore(admin, Bucket.artifacts);
  jsm = await ensureStreams(admin);
});

after(async () => {
  // an open connection would reconnect for ever once the stack is gone, and the file never exit
  await admin?.close();
  await run?.close();
});

const jobLine = (jobId: string, msg: string) => (line: LogLine) => line.job_id === jobId && line.msg === msg;
/**
 * The two lines that say a run's training is over and stored: its final validation started, and
 * the checkpoint of its last epoch was uploaded (in the background, so either may come first).
 */
const trainedAndStored = (jobId: string, epochs: number) => [
  jobLine(jobId, "final validation started"),
  (line: LogLine) => jobLine(jobId, "checkpoint uploaded")(line) && line.epoch === epochs,
];
const terminalsOf = (jobId: string) => run.callbacksOf(jobId).filter((b) => b.type !== "training_progress");

/** The process that runs a service or agent now, by its name in the stack. */
function processNamed(name: string): Supervised {
  const found = run.stack.processes.filter((p) => p.name === name).at(-1);
  assert.ok(found, `a process named ${name} runs`);
  return found;
}

/** Submits a job and returns its request; `epochs` 64 px epochs on the shared dataset. */
async function submit(epochs: number): Promise<TrainRequest> {
  const request = run.job(epochs);
  await run.submit(request);
  return request;
}

/** Waits for the job's terminal callback, then checks it is its only one and reports completion. */
async function completedCallback(jobId: string): Promise<TrainingCompletedCallback> {
  await run.receiver.waitFor(() => terminalsOf(jobId).length > 0, TIMEOUT_MS, `job ${jobId} to end`);
  const terminals = terminalsOf(jobId);
  assert.equal(terminals.length, 1, `one terminal callback: ${JSON.stringify(terminals)}`);
  const [terminal] = terminals;
  assert.ok(terminal);
  assert.equal(terminal.type, "training_completed", `the job completed: ${JSON.stringify(terminal)}`);
  return terminal;
}

/** Asserts the app saw epochs 1…`epochs` once each, in order. */
function assertEpochsOnce(jobId: string, epochs: number): void {
  const seen = run.epochsOf(jobId);
  assert.deepEqual(
    seen,
    Array.from({ length: epochs }, (_, i) => i + 1),
    `each epoch reported once, in order: ${seen.join(", ")}`,
  );
}

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

/** The model the app downloads through its `training_completed` link. */
async function downloadedModel(done: TrainingCompletedCallback): Promise<Buffer> {
  const res = await fetch(done.model.download_url);
  assert.equal(res.status, 200, `the model downloads: ${res.status}`);
  return Buffer.from(await res.arrayBuffer());
}

/** A stored object's bytes, or null. */
async function storedObject(name: string): Promise<Uint8Array | null> {
  return artifacts.getBlob(name);
}

/** How many events of the job the JOB_EVENTS stream holds. */
async function storedEventCount(jobId: string): Promise<number> {
  const info = await jsm.streams.info(JOB_EVENTS_STREAM, { subjects_filter: `job.events.${jobId}.>` });
  return Object.values(info.state.subjects ?? {}).reduce((sum, n) => sum + n, 0);
}

/** Restarts the NATS server (SIGKILL), keeping it down until `met` resolves (the outage was met). */
async function natsOutage(met: () => Promise<unknown>): Promise<void> {
  await run.stack.restart("nats", { hard: true, duringOutage: async () => void (await met()) });
}

describe("one job meets a NATS restart in each of its phases", () => {
  let transfersBefore = 0;
  let request: TrainRequest;
  let agentName = "";

  test("during the dataset intake: the intake rides it out and downloads the archive once", async () => {
    transfersBefore = run.files.transfers.length;
    // the archive's body stalls half-way: the intake is under way while NATS goes
    run.files.disrupt({ kind: "stall", transfers: 1, stallMs: 2_000 });
    request = await submit(3);
    await until(
      async () => run.files.transfers.slice(transfersBefore).find((t) => t.disrupted === "stall"),
      (transfer) => transfer !== undefined,
      "the archive's download to stall",
    );
    const from = logs.lines.length;
    await natsOutage(() =>
      logs.next(
        (line) => line.name === "dataset" && line.msg === NATS_UNAVAILABLE,
        "the dataset service to meet the outage",
        from,
        OUTAGE_MET_MS,
      ),
    );
    await logs.next(jobLine(request.job_id, "dataset ready"), "the dataset to be taken in");
    const downloads = run.files.transfers.slice(transfersBefore).filter((t) => t.file === "shapes.zip");
    assert.equal(downloads.length, 1, "the intake rode the outage out instead of starting again");
  });

  test("while the agent publishes epoch events: no epoch is lost or reported twice", async () => {
    agentName = (await logs.next(jobLine(request.job_id, "training started"), "the training to start")).name;
    await run.receiver.waitFor(() => run.epochsOf(request.job_id).includes(1), TIMEOUT_MS, "epoch 1");
    const from = logs.lines.length;
    await natsOutage(() =>
      logs.next(
        (line) => line.name === agentName && line.msg === NATS_UNAVAILABLE,
        "the agent's next publish to meet the outage",
        from,
        OUTAGE_MET_MS,
      ),
    );
    await run.receiver.waitFor(() => run.epochsOf(request.job_id).includes(2), TIMEOUT_MS, "epoch 2");
    assertEpochsOnce(request.job_id, 2);
  });

  test("while the agent uploads the trained model: the job completes once and its model downloads", async () => {
    // NATS goes while the trainer validates, once the last epoch's checkpoint is stored (the
    // results wait for that upload); it comes back once the results' upload has met the outage
    const outage = new Promise<void>((resolve, reject) =>
      logs.onAll(trainedAndStored(request.job_id, 3), () => natsOutage(uploadMeetsOutage).then(resolve, reject)),
    );
    const uploadMeetsOutage = async () => {
      const uploading = await logs.next(
        jobLine(request.job_id, "uploading the model and artifacts"),
        "the upload to start",
        0,
        OUTAGE_MET_MS,
      );
      await logs.next(
        (line) => line.name === agentName && line.msg === NATS_UNAVAILABLE,
        "the upload to meet the outage",
        logs.lines.indexOf(uploading),
        OUTAGE_MET_MS,
      );
    };
    await outage;
    const done = await completedCallback(request.job_id);
    assertEpochsOnce(request.job_id, 3);
    const model = await downloadedModel(done);
    assert.equal(sha256(model), sha256((await storedObject(runArtifact(request.job_id, 1, "best.pt")))!));
  });
});

describe("an agent lost at a chosen moment", { concurrency: true }, () => {
  /** The agent that started training the job, and the one that resumed it, from their logs. */
  async function runsOf(jobId: string): Promise<{ first: LogLine; resumed: LogLine }> {
    const first = await logs.next(jobLine(jobId, "training started"), "the first run");
    const resumed = await logs.next(jobLine(jobId, "resuming from checkpoint"), "the next run to resume");
    return { first, resumed };
  }

  /** The next run only validated the finished checkpoint: it never started training. */
  function assertValidatedOnly(jobId: string, resumed: LogLine): void {
    assert.equal(resumed.checkpoint, runArtifact(jobId, 1, "last.pt"), "it resumed from the lost run's checkpoint");
    const trainedAgain = logs.lines.some(
      (line) => line.name === resumed.name && line.job_id === jobId && line.msg === "training started",
    );
    assert.ok(!trainedAgain, "the next run went straight to the final validation of the finished checkpoint");
  }

  test("SIGKILL during the final validation: the next run validates the finished checkpoint and completes", async () => {
    const request = run.job(1);
    // killed in the final validation, once every epoch's checkpoint is stored
    logs.onAll(trainedAndStored(request.job_id, 1), (line) => processNamed(line.name).kill("SIGKILL"));
    await run.submit(request);
    const done = await completedCallback(request.job_id);
    const { first, resumed } = await runsOf(request.job_id);
    assert.notEqual(resumed.name, first.name, "the job finished on another agent");
    assertValidatedOnly(request.job_id, resumed);
    assertEpochsOnce(request.job_id, 1);
    assert.ok((await downloadedModel(done)).length > 0);
  });

  test("SIGKILL during the upload of the results: the next run completes, with its own files", async () => {
    const request = run.job(1);
    // NATS paused while the trainer validates, once its checkpoint is stored: the upload of the
    // results that follows cannot end before the kill
    const nats = processNamed("nats");
    const validating = new Promise<LogLine>((resolve) =>
      logs.onAll(trainedAndStored(request.job_id, 1), (line) => {
        nats.kill("SIGSTOP");
        resolve(line);
      }),
    );
    await run.submit(request);
    await validating;
    try {
      await logs.next(jobLine(request.job_id, "uploading the model and artifacts"), "the upload", 0, OUTAGE_MET_MS);
      const agent = processNamed((await validating).name);
      agent.kill("SIGKILL");
      await agent.exited;
    } finally {
      nats.kill("SIGCONT");
    }
    const done = await completedCallback(request.job_id);
    const { resumed } = await runsOf(request.job_id);
    assertValidatedOnly(request.job_id, resumed);
    assertEpochsOnce(request.job_id, 1);
    const model = await downloadedModel(done);
    const second = await storedObject(runArtifact(request.job_id, 2, "best.pt"));
    assert.ok(second, "run 2 stored its model in its own folder");
    assert.equal(sha256(model), sha256(second), "the app downloads the model of the run that completed the job");
  });

  test("chaos seed 6: SIGSTOP mid-training until the heartbeat expires: the job completes elsewhere; continued, the agent reports nothing", async () => {
    const request = await submit(3);
    const first = await logs.next(jobLine(request.job_id, "training started"), "the training to start");
    // stopped once its first checkpoint is stored, for the next run to resume from
    const checkpoint = runArtifact(request.job_id, 1, "last.pt");
    await until(
      async () => (await artifacts.info(checkpoint)) !== null,
      (stored) => stored,
      "run 1's first checkpoint",
    );
    // the agent alone: its trainer trains on, as on a host cut off from the network
    const stale = processNamed(first.name);
    const pid = stale.child.pid;
    assert.ok(pid);
    process.kill(pid, "SIGSTOP");
    let eventsAtContinue: number;
    try {
      const done = await completedCallback(request.job_id);
      const completing = await logs.next(jobLine(request.job_id, "job completed"), "the completing run's log");
      assert.notEqual(completing.name, first.name, "the job completed on another agent");
      eventsAtContinue = await storedEventCount(request.job_id);

      // the model the app downloads is the completing run's own best.pt
      const model = await downloadedModel(done);
      const agent = run.stack.agents.find((a) => a.name === completing.name);
      assert.ok(agent, `the completing agent ${completing.name} is one of the stack's`);
      const local = await readFile(join(agent.workDir, request.job_id, "run", "weights", "best.pt"));
      assert.equal(sha256(model), sha256(local), "the downloaded model is the one the completing run trained");
      assert.equal(completing.attempt, 2, "the completing run is the job's second");
      const resumed = await logs.next(jobLine(request.job_id, "resuming from checkpoint"), "the next run to resume");
      assert.equal(resumed.checkpoint, checkpoint, "it resumed from the stopped run's checkpoint");
    } finally {
      process.kill(pid, "SIGCONT");
    }

    // dropped as superseded, or handed back because its NATS calls had timed out while it was
    // stopped and then dropped as not its own any more: either way its run ends reporting nothing
    await logs.next(
      (line) =>
        line.name === first.name &&
        line.job_id === request.job_id &&
        (line.msg === "run superseded: nothing reported" || line.msg === "stale assignment dropped"),
      "the continued agent to drop its run",
    );
    assert.equal(
      await storedEventCount(request.job_id),
      eventsAtContinue,
      "the superseded run published nothing: no event of the job was stored after it continued",
    );
    const staleFiles = (await artifacts.list())
      .filter((o) => !o.deleted && o.name.startsWith(`${request.job_id}/attempt-1/`))
      .map((o) => o.name);
    assert.deepEqual(staleFiles, [checkpoint], "run 1 stored its checkpoint, and no results");
    assert.equal(terminalsOf(request.job_id).length, 1, "still one terminal callback");
    assertEpochsOnce(request.job_id, 3);
  });
});
