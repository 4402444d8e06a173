/**
 * The production topology under node loss: the stack on a local 3-node NATS cluster (every
 * stream, bucket and store R3, `sync_interval: always`). A fault-free job first gives the
 * reference: the callbacks the app receives for this request. Then the same request trains while
 * the node leading JOB_EVENTS is killed with SIGKILL as the job starts (down through the trainer's
 * start, its first epoch and checkpoint) and restarted, and then, mid-training, the node the
 * trainer-agent is connected to likewise. The job completes, the app receives the same callbacks
 * in the same order (none lost, none twice, the terminal one last), and the dashboard's
 * projection equals one rebuilt from the streams into an empty database. The monitoring
 * endpoints say which node leads and who is connected where; the rebuild reads MongoDB and
 * deletes the dashboard's durables as the NATS admin, since no public interface does either.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Consumer, JOB_EVENTS_STREAM, JOBS_COLLECTION, PROJECTION_DB, TRAIN_STREAM } from "@trainyard/contracts";
import type { Callback, TrainRequest } from "@trainyard/contracts";
import { connectNats, ensureStreams } from "@trainyard/runtime";
import type { NatsNode } from "@trainyard/stack";
import { MongoClient } from "mongodb";
import { startE2eRun, until, type E2eRun } from "./support.js";

/** Long enough (about 0.5 s each here) that both outages (16-20 s on 2 cores) end well before the faulted job does. */
const EPOCHS = 60;
const TIMEOUT_MS = 5 * 60_000;
/** A node's loss must be ridden out well within this; a stuck job fails here, not at the suite's end. */
const STEP_TIMEOUT_MS = 90_000;
/** The dashboard's epoch history (services/dashboard/src/projected-job.ts). */
const EPOCHS_COLLECTION = "job_epochs";

let run: E2eRun;
let reference: TrainRequest;
let faulted: TrainRequest;
/** When the trainer-agent logged each job's completion (its log's own time, ms), by job id. */
const completedAt = new Map<string, number>();

before(async () => {
  run = await startE2eRun({
    name: "cluster",
    stack: { cluster: true },
    watch: (name, line) => {
      if (name === "trainer-agent" && line.includes('"msg":"job completed"')) {
        const entry = JSON.parse(line) as { job_id: string; time: number };
        completedAt.set(entry.job_id, entry.time);
      }
    },
    datasets: { "shapes.zip": { train: 8, val: 4, size: 64, seed: 7 } },
  });
});

after(async () => {
  await run?.close();
});

/** What the app can tell apart in a callback: its type and, for progress, the phase and epoch. */
const shape = (c: Callback) =>
  c.type === "training_progress" ? `progress ${c.progress.phase} ${c.progress.current_epoch ?? "-"}` : c.type;
const finished = (jobId: string) => () => run.callbacksOf(jobId).some((c) => c.type !== "training_progress");

test("a fault-free job on the cluster completes: the reference callbacks", async () => {
  reference = run.job(EPOCHS);
  await run.submit(reference);
  await run.receiver.waitFor(finished(reference.job_id), TIMEOUT_MS, "the reference job's terminal callback");
  const bodies = run.callbacksOf(reference.job_id);
  assert.equal(
    bodies.at(-1)?.type,
    "training_completed",
    `the reference job completed: ${JSON.stringify(bodies.at(-1))}`,
  );
  assert.deepEqual(
    run.epochsOf(reference.job_id),
    Array.from({ length: EPOCHS }, (_, i) => i + 1),
    "one progress callback per epoch, in order",
  );
});

test("the stream leader killed as the job starts, then the agent's node mid-training: the same callbacks", async () => {
  faulted = run.job(EPOCHS);
  await run.submit(faulted);

  // 1: the node leading JOB_EVENTS, where every job event is written, as the agent starts the
  // job: it is down while the trainer starts, reports its first epoch and uploads its checkpoint
  await run.receiver.waitFor(
    () =>
      run.callbacksOf(faulted.job_id).some((c) => c.type === "training_progress" && c.progress.phase === "preparing"),
    TIMEOUT_MS,
    "the faulted job's preparing callback",
  );
  const first = (await streamView(JOB_EVENTS_STREAM)).leader;
  await outage(nodeNamed(first));

  // 2: another node, mid-training: the one the trainer-agent is connected to, unless that is the first
  const agentNode = await connectedNode("trainer-agent-local-1");
  const second =
    agentNode && agentNode !== first ? agentNode : run.stack.nats.nodes.find((n) => n.name !== first)?.name;
  assert.ok(second, "a second node to kill");
  await outage(nodeNamed(second));
  const faultsOver = Date.now();

  await run.receiver.waitFor(finished(faulted.job_id), TIMEOUT_MS, "the faulted job's terminal callback");
  const agentDone = await until(
    async () => completedAt.get(faulted.job_id) ?? 0,
    Boolean,
    "the agent's log line of the job's completion",
    STEP_TIMEOUT_MS,
  );
  assert.ok(agentDone > faultsOver, "both nodes were killed and back before the agent finished the job");
  assert.deepEqual(run.receiver.rejected, [], "every callback verifies and matches the contracts");
  const expected = run.callbacksOf(reference.job_id).map(shape);
  const got = run.callbacksOf(faulted.job_id).map(shape);
  assert.deepEqual(got, expected, "the same callbacks as without the faults, in the same order");
  assert.equal(got.at(-1), "training_completed", "the job completed, its terminal callback last");
  const ids = run.receiver.received.filter((c) => c.body.job_id === faulted.job_id).map((c) => c.headers["webhook-id"]);
  assert.equal(new Set(ids).size, ids.length, "no callback delivered twice");
});

test("the dashboard's projection equals one rebuilt from the streams", async () => {
  const seeds = run.stack.nats.credentials?.seedFiles;
  assert.ok(seeds?.admin, "the stack wrote an admin credential");
  const nc = await connectNats(run.stack.natsUrl, "e2e-rebuild", { user: "admin", nkeySeedFile: seeds.admin });
  const mongo = await MongoClient.connect(run.stack.mongoUrl);
  try {
    const jsm = await ensureStreams(nc);
    const db = mongo.db(PROJECTION_DB);
    const jobIds = [reference.job_id, faulted.job_id];
    const caughtUp = async () => {
      for (const [stream, name] of [
        [JOB_EVENTS_STREAM, Consumer.dashboard],
        [TRAIN_STREAM, Consumer.dashboardRequests],
      ] as const) {
        const info = await jsm.consumers.info(stream, name).catch(() => null);
        if (!info || info.num_pending > 0 || info.num_ack_pending > 0) return false;
      }
      return true;
    };
    const projection = async () => ({
      jobs: await db
        .collection(JOBS_COLLECTION)
        .find({ _id: { $in: jobIds } } as object)
        .sort({ _id: 1 })
        .toArray(),
      epochs: await db
        .collection(EPOCHS_COLLECTION)
        .find({ job_id: { $in: jobIds } })
        .sort({ _id: 1 })
        .toArray(),
    });
    await until(caughtUp, Boolean, "the live projection to catch up", STEP_TIMEOUT_MS);
    const live = await projection();
    assert.deepEqual(
      live.jobs.map((j) => String(j.status)),
      ["completed", "completed"],
      "both jobs are completed in the projection",
    );
    assert.equal(live.epochs.length, 2 * EPOCHS, "every epoch of both jobs has its history row");

    // Rebuild: the dashboard restarted on an empty projection, its durable consumers gone, so it
    // reads both streams from their start again.
    await run.stack.restart("dashboard", {
      async duringOutage() {
        await db.collection(JOBS_COLLECTION).drop();
        await db.collection(EPOCHS_COLLECTION).drop();
        await jsm.consumers.delete(JOB_EVENTS_STREAM, Consumer.dashboard);
        await jsm.consumers.delete(TRAIN_STREAM, Consumer.dashboardRequests);
      },
    });
    await until(
      async () => (await caughtUp()) && (await db.collection(JOBS_COLLECTION).countDocuments()) >= jobIds.length,
      Boolean,
      "the rebuilt projection to catch up",
      STEP_TIMEOUT_MS,
    );
    const rebuilt = await projection();
    assert.deepEqual(rebuilt.jobs, live.jobs, "each job's document is the same");
    assert.deepEqual(rebuilt.epochs, live.epochs, "each job's epoch history is the same");
  } finally {
    await mongo.close();
    await nc.close();
  }
});

const started = Date.now();
/** Prints a step of the faults with the seconds since the run started, for the CI log. */
function step(what: string): void {
  console.log(`${((Date.now() - started) / 1000).toFixed(1)} s: ${what}`);
}

function nodeNamed(name: string): NatsNode {
  const node = run.stack.nats.nodes.find((n) => n.name === name);
  assert.ok(node, `a cluster node is named ${name}`);
  return node;
}

/**
 * Kills `node` with SIGKILL; while it is down, waits until the survivors lead JOB_EVENTS and have
 * stored a job event published after the kill; then starts it again on its ports and store, and
 * resolves once it has caught up.
 */
async function outage(node: NatsNode): Promise<void> {
  const before = await streamView(JOB_EVENTS_STREAM);
  const survivors = run.stack.nats.nodes.filter((n) => n !== node);
  await run.stack.restart(node.name, {
    hard: true,
    async duringOutage() {
      step(`${node.name} killed (${JOB_EVENTS_STREAM} led by ${before.leader}, last sequence ${before.lastSeq})`);
      const during = await until(
        () => streamView(JOB_EVENTS_STREAM, survivors).catch(() => null),
        (view) => view !== null && view.leader !== node.name && view.lastSeq > before.lastSeq,
        `the survivors to lead ${JOB_EVENTS_STREAM} and store the job's next event with ${node.name} down`,
        STEP_TIMEOUT_MS,
      );
      step(`${during?.leader} leads ${JOB_EVENTS_STREAM}, last sequence ${during?.lastSeq}`);
    },
  });
  step(`${node.name} restarted and caught up`);
}

/** A stream's leader and last sequence, from the first of `nodes` whose `/jsz` names a leader. */
async function streamView(stream: string, nodes = run.stack.nats.nodes): Promise<{ leader: string; lastSeq: number }> {
  for (const node of nodes) {
    const jsz = (await (await fetch(`${node.monitorUrl}/jsz?streams=true`)).json()) as {
      account_details?: Array<{
        stream_detail?: Array<{ name: string; cluster?: { leader?: string }; state?: { last_seq?: number } }>;
      }>;
    };
    const detail = jsz.account_details?.flatMap((a) => a.stream_detail ?? []).find((s) => s.name === stream);
    if (detail?.cluster?.leader) return { leader: detail.cluster.leader, lastSeq: detail.state?.last_seq ?? 0 };
  }
  throw new Error(`no node reports a leader of ${stream}`);
}

/** The node a client connection named `name` is on, from `/connz`; null when none has it. */
async function connectedNode(name: string): Promise<string | null> {
  for (const node of run.stack.nats.nodes) {
    const connz = (await (await fetch(`${node.monitorUrl}/connz`)).json()) as { connections: Array<{ name?: string }> };
    if (connz.connections.some((c) => c.name === name)) return node.name;
  }
  return null;
}
