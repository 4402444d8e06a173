/**
 * Many hosts, through public interfaces: two trainer-agents and two scheduler replicas on one
 * machine. A killed scheduler replica loses nothing; a trainer-agent killed mid-training (its
 * whole process group, as a dying host) costs at most the running epoch: the job resumes on the
 * other agent from its last checkpoint and the app sees every epoch exactly once.
 */
import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { TrainingCompletedCallback, TrainRequest } from "@trainyard/contracts";
import {
  exampleTrainRequest,
  makeSyntheticDataset,
  serveFiles,
  startCallbackReceiver,
  startStack,
  type CallbackReceiver,
  type FileServer,
  type Stack,
} from "@trainyard/stack";

const TIMEOUT_MS = 10 * 60_000;

let dir: string;
let stack: Stack;
let files: FileServer;
let receiver: CallbackReceiver;
let secret: string;
/** Scheduler replicas in the order they became leader, from their logs. */
const leaders: string[] = [];
/** Jobs an agent resumed, with the checkpoint it resumed from, from their logs. */
const resumed = new Map<string, string>();

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "trainyard-recovery-"));
  const log = createWriteStream(join(dir, "stack.log"));
  stack = await startStack({
    runDir: join(dir, "stack"),
    agents: 2,
    schedulers: 2,
    sink: (name, line) => {
      if (line.includes('"msg":"became the scheduling leader"')) leaders.push(name);
      if (line.includes('"msg":"resuming from checkpoint"')) {
        const entry = JSON.parse(line) as { job_id: string; checkpoint: string };
        resumed.set(entry.job_id, entry.checkpoint);
      }
      log.write(`${name} | ${line}\n`);
    },
  });
  await makeSyntheticDataset({ out: join(dir, "shapes.zip"), train: 32, val: 8, size: 64, seed: 3 });
  files = await serveFiles(dir);
  secret = `sk_test_${randomBytes(12).toString("hex")}`;
  receiver = await startCallbackReceiver(secret);
  console.log(`stack logs: ${join(dir, "stack.log")}`);
});

after(async () => {
  await receiver?.close();
  await files?.close();
  await stack?.stop();
});

function job(epochs: number): TrainRequest {
  return {
    ...exampleTrainRequest({
      datasetUrl: files.urlOf("shapes.zip"),
      callbackUrl: receiver.url,
      callbackSecret: secret,
      epochs,
      imageSize: 64,
      batchSize: 8,
    }),
    job_id: randomUUID(),
  };
}

async function submit(request: TrainRequest): Promise<void> {
  const res = await stack.api("/api/v1/train", { method: "POST", body: JSON.stringify(request) });
  assert.equal(res.status, 202, `POST /train: ${await res.text()}`);
}

const callbacksOf = (jobId: string) => receiver.received.filter((c) => c.body.job_id === jobId).map((c) => c.body);
const completed = (jobId: string) => () => callbacksOf(jobId).some((b) => b.type === "training_completed");

test("the leading scheduler killed with SIGKILL: the other replica takes over and places the next job", async () => {
  const deadline = Date.now() + 30_000;
  while (leaders.length === 0) {
    assert.ok(Date.now() < deadline, "a scheduler replica became leader");
    await new Promise((r) => setTimeout(r, 100));
  }
  const leaderName = leaders.at(-1);
  const leader = stack.processes.find((p) => p.name === leaderName);
  assert.ok(leader, `the leader ${leaderName} runs`);
  leader.kill("SIGKILL");
  await leader.exited;
  const request = job(1);
  await submit(request);
  await receiver.waitFor(completed(request.job_id), TIMEOUT_MS, "the job placed by the surviving replica to complete");
  assert.ok(!callbacksOf(request.job_id).some((b) => b.type === "training_failed"), "the job did not fail");
  assert.equal(leaders.length, 2, `a second replica took the lead: ${leaders.join(", ")}`);
  assert.notEqual(leaders[1], leaderName, "the new leader is the surviving replica");
});

test("an agent killed mid-training: the job resumes on the other agent, every epoch reported once", async () => {
  const request = job(6);
  await submit(request);
  const epochsSeen = () =>
    callbacksOf(request.job_id).flatMap((b) =>
      b.type === "training_progress" && b.progress.phase === "training" ? [b.progress.current_epoch] : [],
    );
  await receiver.waitFor(() => epochsSeen().includes(2), TIMEOUT_MS, "epoch 2 of the long job");
  // the dashboard's projection names the agent running the job
  const view = (await (await fetch(`${stack.dashboardUrl}/api/jobs/${request.job_id}`)).json()) as {
    agent_id?: string;
  };
  const agentId = view.agent_id;
  assert.ok(agentId, `the dashboard knows the job's agent: ${JSON.stringify(view)}`);
  const victim = stack.processes.find((p) => p.name === (agentId === "local-1" ? "trainer-agent" : `agent-${agentId}`));
  assert.ok(victim, `a process runs agent ${agentId}`);
  victim.kill("SIGKILL"); // the agent and its trainer at once, as a dying host
  await victim.exited;

  await receiver.waitFor(completed(request.job_id), TIMEOUT_MS, "the resumed job to complete");
  const epochs = epochsSeen();
  assert.deepEqual(epochs, [1, 2, 3, 4, 5, 6], `each epoch reported once, in order: ${epochs.join(", ")}`);
  const bodies = callbacksOf(request.job_id);
  assert.equal(bodies.filter((b) => b.type !== "training_progress").length, 1, "one terminal callback");
  const done = bodies.find((b) => b.type === "training_completed") as TrainingCompletedCallback;
  assert.equal(done.final_metrics.total_epochs, 6);
  const after = (await (await fetch(`${stack.dashboardUrl}/api/jobs/${request.job_id}`)).json()) as {
    agent_id?: string;
  };
  assert.notEqual(after.agent_id, agentId, "the job finished on the other agent");
  assert.equal(resumed.get(request.job_id), `${request.job_id}/last.pt`, "it resumed from the uploaded last.pt");
});
