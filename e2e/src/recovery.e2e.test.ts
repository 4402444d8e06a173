/**
 * Many hosts, through public interfaces: two trainer-agents and two scheduler replicas on one
 * machine. A killed scheduler replica loses nothing; a trainer-agent killed mid-training (its
 * whole process group, as a dying host) costs at most the running epoch: the job resumes on the
 * other agent from its last checkpoint and the app sees every epoch exactly once.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { TrainingCompletedCallback } from "@trainyard/contracts";
import { startE2eRun, until, type E2eRun } from "./support.js";

const TIMEOUT_MS = 10 * 60_000;

let run: E2eRun;
/** Scheduler replicas in the order they became leader, from their logs. */
const leaders: string[] = [];
/** Jobs an agent resumed, with the checkpoint it resumed from, from their logs. */
const resumed = new Map<string, string>();
/** The epochs of each job whose checkpoint a run uploaded, from the agents' logs. */
const uploaded = new Map<string, number[]>();

before(async () => {
  run = await startE2eRun({
    name: "recovery",
    stack: {
      agents: 2,
      schedulers: 2,
      // every epoch's checkpoint is uploaded, so a fault meets a stored one at a known epoch
      // (production paces uploads by their cost: checkpoint-uploads.test.ts, bench/nats-cluster.js)
      env: { CHECKPOINT_UPLOAD_SHARE: "1" },
    },
    watch: (name, line) => {
      if (line.includes('"msg":"became the scheduling leader"')) leaders.push(name);
      if (line.includes('"msg":"resuming from checkpoint"')) {
        const entry = JSON.parse(line) as { job_id: string; checkpoint: string };
        resumed.set(entry.job_id, entry.checkpoint);
      }
      if (line.includes('"msg":"checkpoint uploaded"')) {
        const entry = JSON.parse(line) as { job_id: string; epoch: number };
        uploaded.set(entry.job_id, [...(uploaded.get(entry.job_id) ?? []), entry.epoch]);
      }
    },
    datasets: { "shapes.zip": { train: 32, val: 8, size: 64, seed: 3 } },
  });
});

after(async () => {
  await run?.close();
});

const job = (epochs: number) => run.job(epochs, { batchSize: 8 });
const completed = (jobId: string) => () => run.callbacksOf(jobId).some((b) => b.type === "training_completed");
/** The dashboard's projection of a job, which names the agent running it. */
const dashboardJob = (jobId: string) => run.dashboard<{ agent_id?: string }>(`/api/jobs/${jobId}`);

test("the leading scheduler killed with SIGKILL: the other replica takes over and places the next job", async () => {
  await until(
    async () => leaders.length,
    (count) => count > 0,
    "a scheduler replica to become leader",
    30_000,
  );
  const leaderName = leaders.at(-1);
  const leader = run.stack.processes.find((p) => p.name === leaderName);
  assert.ok(leader, `the leader ${leaderName} runs`);
  leader.kill("SIGKILL");
  await leader.exited;
  const request = job(1);
  await run.submit(request);
  await run.receiver.waitFor(
    completed(request.job_id),
    TIMEOUT_MS,
    "the job placed by the surviving replica to complete",
  );
  assert.ok(!run.callbacksOf(request.job_id).some((b) => b.type === "training_failed"), "the job did not fail");
  assert.equal(leaders.length, 2, `a second replica took the lead: ${leaders.join(", ")}`);
  assert.notEqual(leaders[1], leaderName, "the new leader is the surviving replica");
});

test("an agent killed mid-training: the job resumes on the other agent, every epoch reported once", async () => {
  const request = job(6);
  await run.submit(request);
  // mid-training, with a checkpoint stored (uploads run beside the training, so either may lead)
  await run.receiver.waitFor(() => run.epochsOf(request.job_id).includes(2), TIMEOUT_MS, "epoch 2 of the long job");
  await until(
    async () => uploaded.get(request.job_id) ?? [],
    (epochs) => epochs.length > 0,
    "a checkpoint of the long job to be stored",
    TIMEOUT_MS,
  );
  const view = await dashboardJob(request.job_id);
  const agentId = view.agent_id;
  assert.ok(agentId, `the dashboard knows the job's agent: ${JSON.stringify(view)}`);
  const victim = run.agentProcess(agentId);
  victim.kill("SIGKILL"); // the agent and its trainer at once, as a dying host
  await victim.exited;

  await run.receiver.waitFor(completed(request.job_id), TIMEOUT_MS, "the resumed job to complete");
  const epochs = run.epochsOf(request.job_id);
  assert.deepEqual(epochs, [1, 2, 3, 4, 5, 6], `each epoch reported once, in order: ${epochs.join(", ")}`);
  const bodies = run.callbacksOf(request.job_id);
  assert.equal(bodies.filter((b) => b.type !== "training_progress").length, 1, "one terminal callback");
  const done = bodies.find((b) => b.type === "training_completed") as TrainingCompletedCallback;
  assert.equal(done.final_metrics.total_epochs, 6);
  const after = await dashboardJob(request.job_id);
  assert.notEqual(after.agent_id, agentId, "the job finished on the other agent");
  assert.equal(
    resumed.get(request.job_id),
    `${request.job_id}/attempt-1/last.pt`,
    "it resumed from the last.pt the killed run uploaded",
  );
});
