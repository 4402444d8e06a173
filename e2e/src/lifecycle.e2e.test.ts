/**
 * A job's life at its edges, through public interfaces with real processes: two trainer-agents,
 * real Ultralytics on CPU. A cancellation while the dataset downloads or while the final validation
 * runs ends the job `cancelled` with nothing left running; a job whose cancel won the race with
 * its completion ends `cancelled`, never `completed`; a drained agent finishes its job and takes
 * no other; an agent stopped with SIGTERM hands its job back, which resumes on the other.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, test } from "node:test";
import {
  JobCancelled,
  JobView,
  type Callback,
  type TrainingFailedCallback,
  type TrainRequest,
} from "@trainyard/contracts";
import { openJobOutcomes } from "@trainyard/runtime";
import { serveFiles, type FileServer } from "@trainyard/stack";
import { processesWhose, startE2eRun, until, type E2eRun } from "./support.js";

const TRAINING_TIMEOUT_MS = 5 * 60_000;
/** The throttled server's rate: the small dataset takes half a minute to arrive. */
const SLOW_BYTES_PER_SECOND = 4 * 1024;

let run: E2eRun;
let slowFiles: FileServer;
/** From the agents' logs, by job id: when a stopping agent handed the job back, and who resumed it when. */
const handedBack = new Map<string, number>();
const resumed = new Map<string, { agent: string; time: number }>();

before(async () => {
  run = await startE2eRun({
    name: "lifecycle",
    stack: { agents: 2 },
    watch: (name, line) => {
      if (!line.startsWith("{") || !line.includes('"job_id"')) return;
      const entry = JSON.parse(line) as { job_id: string; msg: string; time: number };
      if (entry.msg === "agent shutting down: job handed back for another run")
        handedBack.set(entry.job_id, entry.time);
      if (entry.msg === "resuming from checkpoint") resumed.set(entry.job_id, { agent: name, time: entry.time });
    },
    datasets: {
      "small.zip": { train: 8, val: 4, size: 64, seed: 7 },
      "slow.zip": { train: 8, val: 4, size: 64, seed: 8 },
      // a validation split many times the training one: the final validation lasts seconds
      "large-val.zip": { train: 8, val: 240, size: 64, seed: 9 },
    },
  });
  slowFiles = await serveFiles(run.dir, { bytesPerSecond: SLOW_BYTES_PER_SECOND });
});

after(async () => {
  await slowFiles?.close();
  await run?.close();
});

const api = (path: string, init?: RequestInit) => run.stack.api(path, init);

/** DELETE /api/v1/jobs/{id}: answered 200 `cancelled`, and a GET right after says so too. */
async function cancel(jobId: string): Promise<void> {
  const res = await api(`/api/v1/jobs/${jobId}`, { method: "DELETE" });
  assert.equal(res.status, 200, `DELETE of ${jobId}`);
  assert.equal(JobCancelled.parse(await res.json()).status, "cancelled");
  const view = JobView.parse(await (await api(`/api/v1/jobs/${jobId}`)).json());
  assert.equal(view.status, "cancelled", "a GET right after the DELETE shows the cancellation");
}

const reached = (jobId: string, phase: string) => () =>
  run.callbacksOf(jobId).some((b) => b.type === "training_progress" && b.progress.phase === phase);
const finished = (jobId: string) => () => run.callbacksOf(jobId).some((b) => b.type !== "training_progress");

/** Waits for the job's one terminal callback and checks that nothing followed it. */
async function terminalOf(jobId: string, timeoutMs = TRAINING_TIMEOUT_MS): Promise<Callback> {
  await run.receiver.waitFor(finished(jobId), timeoutMs, `the terminal callback of ${jobId}`);
  const bodies = run.callbacksOf(jobId);
  assert.equal(bodies.filter((b) => b.type !== "training_progress").length, 1, "one terminal callback");
  return bodies.at(-1)!;
}

interface DashboardJob {
  status: string;
  phase: string | null;
  agent_id: string | null;
}
interface DashboardAgent {
  agent_id: string;
  online: boolean;
  draining: boolean;
}
const dashboardJob = (jobId: string) => run.dashboard<DashboardJob>(`/api/jobs/${jobId}`);
const agents = async () => (await run.dashboard<{ agents: DashboardAgent[] }>("/api/overview")).agents;

/** Trainer processes of a job (on one agent, when named): its job file is in their command line. */
function trainersOf(jobId: string, agentId?: string): string[] {
  const jobDir = agentId ? join(run.stackDir, `agent-${agentId}`, jobId) : jobId;
  return processesWhose((cmdline) => cmdline.includes("trainyard_trainer") && cmdline.includes(jobDir));
}

let cancelledWhileDownloading: TrainRequest | undefined;

test("cancel while downloading: the download stops, the job ends cancelled and never reaches an agent", async () => {
  const request = run.job(1, { datasetUrl: slowFiles.urlOf("slow.zip") });
  cancelledWhileDownloading = request;
  await run.submit(request);
  const transfer = await slowFiles.waitForTransfer("slow.zip", 60_000);
  await until(
    () => dashboardJob(request.job_id),
    (j) => j.phase === "downloading",
    "the downloading phase",
  );
  await cancel(request.job_id);

  const { complete } = await Promise.race([
    transfer.ended,
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error("the download was still running 60 s after the cancellation")), 60_000),
    ),
  ]);
  assert.equal(complete, false, `the dataset service hung up after ${transfer.sent} of ${transfer.size} bytes`);

  const terminal = (await terminalOf(request.job_id, 60_000)) as TrainingFailedCallback;
  assert.equal(terminal.type, "training_failed");
  assert.equal(terminal.error.code, "CANCELLED");
  assert.equal(terminal.error.phase, "dataset_download");
  assert.equal(terminal.error.epoch, null);
  assert.equal(terminal.partial_metrics, null, "a job that never trained has no metrics");
  // whatever else it would still do shows up by the end of this file (see the last test)
});

test("cancel while validating: the job ends cancelled and its trainer is gone", async () => {
  const request = run.job(1, { datasetUrl: run.files.urlOf("large-val.zip") });
  await run.submit(request);
  await run.receiver.waitFor(reached(request.job_id, "validating"), TRAINING_TIMEOUT_MS, "the validating phase");
  await cancel(request.job_id);

  const terminal = (await terminalOf(request.job_id)) as TrainingFailedCallback;
  assert.equal(terminal.type, "training_failed", `expected the cancellation, got ${JSON.stringify(terminal)}`);
  assert.equal(terminal.error.code, "CANCELLED");
  assert.equal(terminal.error.phase, "validating", "the failure names the phase it stopped in");
  assert.equal(terminal.error.epoch, 1, "the failure names the last finished epoch");
  assert.equal(typeof terminal.partial_metrics?.box_loss, "number", "the last epoch's metrics are kept");
  // the agent reports a cancellation only once its trainer has exited
  assert.deepEqual(trainersOf(request.job_id), [], "no trainer process of the job is left");
  const view = await until(
    () => dashboardJob(request.job_id),
    (j) => j.status === "cancelled",
    "status cancelled",
  );
  assert.ok(view.agent_id, "the job had reached an agent");
});

test("a cancel that claimed the job's outcome before its agent finished: the app gets CANCELLED, not completed", async () => {
  // A DELETE claims the outcome, then asks the agents to stop. Claiming alone widens the race
  // between the two to the whole run: the agent trains to the end and only then learns of it.
  const request = run.job(1);
  await run.submit(request);
  const nc = await run.adminNats("e2e-outcome-race");
  try {
    assert.equal(await (await openJobOutcomes(nc)).claim(request.job_id, "cancelled"), "cancelled");
  } finally {
    await nc.close();
  }
  const terminal = (await terminalOf(request.job_id)) as TrainingFailedCallback;
  assert.equal(terminal.type, "training_failed", `expected the cancellation, got ${JSON.stringify(terminal)}`);
  assert.equal(terminal.error.code, "CANCELLED");
  assert.equal(terminal.error.epoch, 1, "the job had trained its one epoch");
  assert.equal(typeof terminal.partial_metrics?.box_loss, "number", "the metrics it reached are kept");
  await until(
    () => dashboardJob(request.job_id),
    (j) => j.status === "cancelled",
    "status cancelled",
  );
});

test("a drained agent finishes its job and takes no new one; its heartbeat says draining", async () => {
  const running = run.job(3);
  await run.submit(running);
  await run.receiver.waitFor(() => run.epochsOf(running.job_id).includes(1), TRAINING_TIMEOUT_MS, "the first epoch");
  const drained = (await dashboardJob(running.job_id)).agent_id;
  assert.ok(drained, "the dashboard knows the running job's agent");
  process.kill(run.agentProcess(drained).child.pid!, "SIGUSR2");
  await until(agents, (all) => all.some((a) => a.agent_id === drained && a.draining), `agent ${drained} draining`);

  const later = [run.job(2), run.job(1)];
  for (const request of later) await run.submit(request);
  const done = await terminalOf(running.job_id);
  assert.equal(done.type, "training_completed", `the drained agent's job completes: ${JSON.stringify(done)}`);
  assert.deepEqual(run.epochsOf(running.job_id), [1, 2, 3], "every epoch of the running job, once");
  assert.equal((await dashboardJob(running.job_id)).agent_id, drained, "it stayed on the drained agent");

  for (const request of later) {
    const terminal = await terminalOf(request.job_id);
    assert.equal(terminal.type, "training_completed", `a later job completes: ${JSON.stringify(terminal)}`);
    const view = await dashboardJob(request.job_id);
    assert.ok(view.agent_id && view.agent_id !== drained, `a later job ran on ${view.agent_id}, not on ${drained}`);
  }
  const still = (await agents()).find((a) => a.agent_id === drained);
  assert.deepEqual([still?.online, still?.draining], [true, true], "the drained agent is still up, still draining");
});

test("SIGTERM to an agent: it stops its trainer and exits; the job resumes from its checkpoint on the other", async () => {
  // the agent drained above comes back as a normal one
  const drainedAgent = (await agents()).find((a) => a.draining);
  if (drainedAgent) {
    await run.stack.restart(run.agentProcess(drainedAgent.agent_id).name);
    await until(
      agents,
      (all) => all.length === 2 && all.every((a) => a.online && !a.draining),
      "two agents taking work",
    );
  }
  const request = run.job(3);
  await run.submit(request);
  await run.receiver.waitFor(() => run.epochsOf(request.job_id).includes(1), TRAINING_TIMEOUT_MS, "the first epoch");
  const stopped = (await dashboardJob(request.job_id)).agent_id;
  assert.ok(stopped, "the dashboard knows the job's agent");
  const agent = run.agentProcess(stopped);
  process.kill(agent.child.pid!, "SIGTERM"); // the agent alone: it must stop its own trainer
  assert.equal(await agent.exited, 0, "the agent shuts down cleanly");
  assert.deepEqual(trainersOf(request.job_id, stopped), [], "the agent stopped its trainer before exiting");

  const terminal = await terminalOf(request.job_id);
  assert.equal(terminal.type, "training_completed", `the job completes elsewhere: ${JSON.stringify(terminal)}`);
  assert.deepEqual(run.epochsOf(request.job_id), [1, 2, 3], "each epoch reported once, in order");
  const view = await dashboardJob(request.job_id);
  assert.ok(view.agent_id && view.agent_id !== stopped, `finished on ${view.agent_id}, not on ${stopped}`);
  const handedBackAt = handedBack.get(request.job_id);
  const resumedAt = resumed.get(request.job_id);
  assert.ok(handedBackAt, "the stopping agent handed the job back");
  assert.ok(resumedAt, "the other agent resumed from the uploaded checkpoint");
  assert.ok(resumedAt.time >= handedBackAt, "the job moved only once its trainer had stopped: never two at once");
});

test("the job cancelled while downloading was never downloaded again, assigned or trained", async () => {
  const request = cancelledWhileDownloading;
  assert.ok(request, "the first test submitted it");
  assert.equal(slowFiles.hits.get("slow.zip"), 1, "one download, stopped: no retry after the cancellation");
  const view = await dashboardJob(request.job_id);
  assert.deepEqual([view.status, view.agent_id], ["cancelled", null], "cancelled, no agent");
  const bodies = run.callbacksOf(request.job_id);
  assert.ok(
    bodies.every(
      (b) => b.type === "training_failed" || (b.type === "training_progress" && b.progress.phase === "downloading"),
    ),
    `only download progress before the cancellation: ${bodies.map((b) => b.type).join(", ")}`,
  );
  assert.equal(bodies.at(-1)?.type, "training_failed", "nothing after the terminal callback");
});
