/**
 * The queue-based scheduler against a real nats-server: the queue, agents, leases and leader
 * live in real KV buckets; assignments and events are really published to their streams.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, beforeEach, describe, test } from "node:test";
import { jetstream, type JetStreamClient } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  Bucket,
  JobAssignment,
  SUPERSEDED,
  Subject,
  TRAIN_STREAM,
  type AgentHeartbeat,
  type DatasetReady,
  type JobEvent,
  type JobPriority,
  type Slot,
} from "@trainyard/contracts";
import {
  connectNats,
  createLogger,
  ensureStreams,
  isTransientNatsError,
  openJobOutcomes,
  openJobQueue,
  openKeyExpiry,
  openKv,
  publishJson,
  type JobOutcomes,
  type JobQueue,
  type KV,
} from "@trainyard/runtime";
import { queueEntry, startNats, type Supervised } from "@trainyard/stack";
import { openCluster, type Cluster } from "./adapters/cluster.js";
import { startLeadership } from "./leadership.js";
import { enqueueJob, finishJob, ORPHAN_LEASE_AGE_MS, scheduleRound, type SchedulingDeps } from "./scheduling.js";

const log = createLogger("scheduler-test", "silent");
const gpu = (index: number): Slot => ({ index, device: `cuda:${index}`, name: "NVIDIA H100" });
const failure = {
  code: "UNKNOWN_ERROR" as const,
  message: "m",
  details: "d",
  phase: "training" as const,
  epoch: null,
};

let dir: string;
let nats: Supervised;
let nc: NatsConnection;
let outcomes: JobOutcomes;
let js: JetStreamClient;
let agents: KV;
let queue: JobQueue;
let cluster: Cluster;
let arrival = 0;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "trainyard-scheduler-"));
  const started = await startNats(join(dir, "nats"), () => undefined);
  nats = started.process;
  nc = await connectNats(started.url, "scheduler-test");
  await ensureStreams(nc);
  outcomes = await openJobOutcomes(nc);
  js = jetstream(nc);
  cluster = await openCluster(nc);
  queue = await openJobQueue(nc);
  agents = await openKv(nc, Bucket.agents);
});

after(async () => {
  await nc?.close();
  await nats?.stop();
  await rm(dir, { recursive: true, force: true });
});

beforeEach(async () => {
  for (const name of [Bucket.agents, Bucket.assignments, Bucket.queue, Bucket.schedulerLeader] as const) {
    const kv = await openKv(nc, name);
    for await (const key of await kv.keys()) await kv.purge(key);
  }
});

async function putAgent(agentId: string, slots: Slot[]): Promise<void> {
  const now = new Date().toISOString();
  const beat: AgentHeartbeat = {
    agent_id: agentId,
    host: agentId,
    slots,
    gpus: [],
    draining: false,
    started_at: now,
    seen_at: now,
  };
  await agents.put(agentId, JSON.stringify(beat));
}

function datasetReady(priority?: JobPriority): DatasetReady {
  const { job } = queueEntry(randomUUID(), 0);
  return { ...job, requested_at: new Date().toISOString(), ...(priority ? { priority } : {}) };
}

interface Recorded {
  assignments: JobAssignment[];
  events: JobEvent[];
}

function deps(recorded: Recorded, overrides: Partial<SchedulingDeps> = {}): SchedulingDeps {
  return {
    queue,
    cluster,
    leadership: { isLeader: () => true, confirm: async () => true, term: () => 1 },
    isCancelled: async () => false,
    checkpointOf: async () => null,
    publishAssignment: async (a) => {
      recorded.assignments.push(a);
      await publishJson(js, Subject.assignment(a.agent_id), a, `${a.job_id}:assign:${a.attempt}`);
    },
    publishEvent: async (event) => {
      recorded.events.push(event);
    },
    outcomes,
    expireJobKeys: async () => undefined,
    maxAttempts: 3,
    log,
    now: () => new Date(),
    ...overrides,
  };
}

async function enqueue(job: DatasetReady): Promise<void> {
  await enqueueJob({ queue, log, now: () => new Date() }, job, ++arrival);
}

/** Which job holds each slot, from the leases. */
async function slotHolders(): Promise<Map<string, string>> {
  const holders = new Map<string, string>();
  for (const [key, lease] of await cluster.leases()) holders.set(key, lease.job_id);
  return holders;
}

describe("scheduleRound (real NATS)", () => {
  test("jobs leave the queue by priority, then by arrival", async () => {
    await putAgent("host-1", [gpu(0)]);
    const recorded: Recorded = { assignments: [], events: [] };
    const low = datasetReady("low");
    const normalA = datasetReady();
    const high = datasetReady("high");
    const normalB = datasetReady("normal");
    for (const job of [low, normalA, high, normalB]) await enqueue(job);
    const order: string[] = [];
    for (let i = 0; i < 4; i++) {
      const { placed } = await scheduleRound(deps(recorded));
      assert.equal(placed.length, 1, `round ${i + 1} places exactly one job on the one slot`);
      order.push(placed[0] ?? "");
      await finishJob(deps(recorded), placed[0] ?? "");
    }
    assert.deepEqual(order, [high.job_id, normalA.job_id, normalB.job_id, low.job_id]);
    assert.equal((await queue.list()).length, 0, "finished jobs leave the queue");
  });

  test("three agents, eight jobs: no slot ever holds two jobs and every job runs once", async () => {
    await putAgent("a", [gpu(0)]);
    await putAgent("b", [gpu(0), gpu(1)]);
    await putAgent("c", [gpu(0), gpu(1)]);
    const recorded: Recorded = { assignments: [], events: [] };
    const jobs = Array.from({ length: 8 }, () => datasetReady());
    for (const job of jobs) await enqueue(job);
    const ran = new Set<string>();
    while (ran.size < jobs.length) {
      const { placed } = await scheduleRound(deps(recorded));
      const holders = await slotHolders();
      assert.ok(holders.size <= 5, `at most one job per slot (5 slots), got ${holders.size}`);
      assert.equal(new Set(holders.values()).size, holders.size, "no job holds two slots");
      assert.ok(placed.length > 0 || holders.size > 0, "the queue moves");
      for (const jobId of placed) {
        assert.ok(!ran.has(jobId), `job ${jobId} placed twice`);
        ran.add(jobId);
      }
      // the oldest running job finishes, freeing its slot
      const first = [...holders.values()][0];
      if (first) await finishJob(deps(recorded), first);
    }
    assert.equal(recorded.assignments.length, 8, "one assignment per job");
  });

  test("a follower places nothing", async () => {
    await putAgent("host-1", [gpu(0)]);
    await enqueue(datasetReady());
    const recorded: Recorded = { assignments: [], events: [] };
    const result = await scheduleRound(
      deps(recorded, { leadership: { isLeader: () => false, confirm: async () => false, term: () => 0 } }),
    );
    assert.deepEqual(result, { placed: [], requeued: [], announcedTerm: null });
    assert.equal(recorded.assignments.length, 0);
  });

  test("a cancelled waiting job leaves the queue without a slot", async () => {
    await putAgent("host-1", [gpu(0)]);
    const job = datasetReady();
    await enqueue(job);
    const recorded: Recorded = { assignments: [], events: [] };
    const result = await scheduleRound(deps(recorded, { isCancelled: async (id) => id === job.job_id }));
    assert.deepEqual(result.placed, []);
    assert.equal(await queue.get(job.job_id), null, "the cancelled job is gone from the queue");
    assert.equal((await slotHolders()).size, 0);
    // the gateway published it already; the terminal message id makes this one a no-op then
    assert.deepEqual(
      recorded.events.map((e) => e.type === "failed" && [e.error.code, e.error.phase]),
      [["CANCELLED", "cancelled"]],
    );
  });

  test("a running job cancelled while its agent is lost gets its CANCELLED event from the scheduler", async () => {
    await putAgent("vanishing", [gpu(0)]);
    const job = datasetReady();
    await enqueue(job);
    const recorded: Recorded = { assignments: [], events: [] };
    assert.deepEqual((await scheduleRound(deps(recorded))).placed, [job.job_id]);
    // the DELETE came while it trained (the gateway leaves the event to the agent), then the agent died
    assert.equal(await outcomes.claim(job.job_id, "cancelled"), "cancelled");
    await agents.purge("vanishing");
    const cancelled = deps(recorded, { isCancelled: async (id) => id === job.job_id });
    assert.deepEqual((await scheduleRound(cancelled)).requeued, [job.job_id], "the lost job goes back first");
    await scheduleRound(cancelled);
    assert.equal(await queue.get(job.job_id), null, "then leaves the queue, never placed again");
    const failed = recorded.events.filter((e) => e.type === "failed");
    assert.equal(failed.length, 1, "one terminal event");
    assert.ok(failed[0]?.type === "failed");
    assert.equal(failed[0].error.code, "CANCELLED");
    assert.equal(failed[0].error.phase, "training", "it had started training");
  });

  test("a job whose agent is lost goes back to the queue and resumes from its checkpoint elsewhere", async () => {
    await putAgent("doomed", [gpu(0)]);
    const job = datasetReady();
    await enqueue(job);
    const recorded: Recorded = { assignments: [], events: [] };
    const checkpoint = `${job.job_id}/attempt-1/last.pt`;
    const withCheckpoint = deps(recorded, {
      checkpointOf: async (id, attempt) => (id === job.job_id && attempt === 1 ? checkpoint : null),
    });
    assert.deepEqual((await scheduleRound(withCheckpoint)).placed, [job.job_id]);
    await agents.purge("doomed"); // its heartbeat expired
    await putAgent("survivor", [gpu(0)]);
    const lost = await scheduleRound(withCheckpoint);
    assert.deepEqual(lost.requeued, [job.job_id], "the job is re-queued");
    const waiting = await queue.get(job.job_id);
    assert.equal(waiting?.entry.attempt, 2);
    assert.equal(waiting?.entry.placement, null);
    assert.deepEqual((await scheduleRound(withCheckpoint)).placed, [job.job_id], "and placed again");
    const second = recorded.assignments.at(-1);
    assert.equal(second?.agent_id, "survivor");
    assert.equal(second?.attempt, 2);
    assert.equal(second?.resume_from, checkpoint, "the new run resumes from the lost run's checkpoint");
    const published = await js.streams.get(TRAIN_STREAM);
    const msg = await published.getMessage({ last_by_subj: Subject.assignment("survivor") });
    assert.equal(JobAssignment.parse(msg?.json()).resume_from, checkpoint);
  });

  test("a new run is announced only after the run it replaces is fenced out: that run can end nothing", async () => {
    await putAgent("partitioned", [gpu(0)]);
    const job = datasetReady();
    await enqueue(job);
    const recorded: Recorded = { assignments: [], events: [] };
    assert.deepEqual((await scheduleRound(deps(recorded))).placed, [job.job_id]);
    assert.equal((await outcomes.read(job.job_id))?.fence ?? null, null, "a first run needs no fence");
    await agents.purge("partitioned"); // its heartbeat expired, but its trainer may still run
    await putAgent("replacement", [gpu(0)]);
    await scheduleRound(deps(recorded));
    const fencedAtAnnounce: Array<number | null> = [];
    const watching = deps(recorded, {
      publishAssignment: async (a) => {
        fencedAtAnnounce.push((await outcomes.read(a.job_id))?.fence ?? null);
        recorded.assignments.push(a);
      },
    });
    assert.deepEqual((await scheduleRound(watching)).placed, [job.job_id]);
    assert.deepEqual(fencedAtAnnounce, [2], "run 2 was fenced in before its assignment went out");
    const stale = await outcomes.claimRun(job.job_id, "completed", {
      attempt: 1,
      event: {
        type: "failed",
        job_id: job.job_id,
        at: new Date().toISOString(),
        error: failure,
        partial_metrics: null,
      },
    });
    assert.equal(stale, SUPERSEDED, "the partitioned run finishing later claims nothing");
  });

  test("a job that loses its agent maxAttempts times fails with one terminal event", async () => {
    const job = datasetReady();
    await enqueue(job);
    const recorded: Recorded = { assignments: [], events: [] };
    const d = deps(recorded, { maxAttempts: 2 });
    for (let attempt = 1; attempt <= 2; attempt++) {
      await putAgent(`host-${attempt}`, [gpu(0)]);
      assert.deepEqual((await scheduleRound(d)).placed, [job.job_id], `run ${attempt} placed`);
      await agents.purge(`host-${attempt}`);
      await scheduleRound(d);
    }
    assert.equal(await queue.get(job.job_id), null, "the job left the queue");
    const failed = recorded.events.filter((e) => e.type === "failed");
    assert.equal(failed.length, 1, "one failure");
    assert.equal(failed[0]?.type === "failed" && failed[0].error.code, "UNKNOWN_ERROR");
  });

  test("a placement NATS would not announce stays held, and the next sweep that announces again sends it", async () => {
    await putAgent("steady", [gpu(0)]);
    const job = datasetReady();
    await enqueue(job);
    // what a publish meets while NATS restarts or a stream elects its leader, from the server itself
    const refusal = await js.publish("scheduler-test.no-stream", "{}").then(
      () => assert.fail("no stream should take this subject"),
      (err: unknown) => err as Error,
    );
    assert.ok(isTransientNatsError(refusal), `a transient refusal: ${String(refusal)}`);
    const recorded: Recorded = { assignments: [], events: [] };
    const refusing = deps(recorded, { publishAssignment: () => Promise.reject(refusal) });
    await assert.rejects(scheduleRound(refusing), (err) => err === refusal, "the round fails");
    assert.equal((await queue.get(job.job_id))?.entry.placement?.agent_id, "steady", "the placement was written");
    assert.equal(recorded.assignments.length, 0, "but not announced");
    // the service marks a failed round's term unannounced: its next sweep announces every held placement
    const again = await scheduleRound(deps(recorded), { announcedTerm: 0 });
    assert.equal(again.announcedTerm, 1);
    assert.deepEqual(
      recorded.assignments.map((a) => [a.job_id, a.agent_id]),
      [[job.job_id, "steady"]],
      "the held placement reaches its agent",
    );
  });

  test("a sweep frees a lease no placed job stands behind once it is old, and keeps a young one", async () => {
    await putAgent("host-1", [gpu(0), gpu(1)]);
    const leaseKv = await openKv(nc, Bucket.assignments);
    const lease = (jobId: string, slot: number, ageMs: number) =>
      JSON.stringify({
        job_id: jobId,
        agent_id: "host-1",
        slot_index: slot,
        assigned_at: new Date(Date.now() - ageMs).toISOString(),
      });
    const [orphan, young] = [datasetReady(), datasetReady()];
    await leaseKv.put("host-1.0", lease(orphan.job_id, 0, ORPHAN_LEASE_AGE_MS + 5_000));
    await leaseKv.put("host-1.1", lease(young.job_id, 1, 0));
    const recorded: Recorded = { assignments: [], events: [] };
    await scheduleRound(deps(recorded), { sweep: false });
    assert.equal((await slotHolders()).size, 2, "a round that only fills slots leaves leases alone");
    await scheduleRound(deps(recorded));
    assert.deepEqual([...(await slotHolders())], [["host-1.1", young.job_id]], "only the old orphan is freed");
  });

  test("after taking the lead, a sweep announces every held placement again; JetStream drops the repeats", async () => {
    await putAgent("announcer", [gpu(0)]);
    const job = datasetReady();
    await enqueue(job);
    const recorded: Recorded = { assignments: [], events: [] };
    assert.deepEqual((await scheduleRound(deps(recorded))).placed, [job.job_id]);
    const again = await scheduleRound(deps(recorded), { announcedTerm: 0 });
    assert.equal(again.announcedTerm, 1, "term 1 is announced");
    assert.deepEqual(
      recorded.assignments.map((a) => a.job_id),
      [job.job_id, job.job_id],
      "the placement is announced a second time",
    );
    const quiet = await scheduleRound(deps(recorded), { announcedTerm: 1 });
    assert.equal(quiet.announcedTerm, null, "within the same term nothing is announced again");
    assert.equal(recorded.assignments.length, 2);
    const stream = await js.streams.get(TRAIN_STREAM);
    const info = await stream.info(false, { subjects_filter: Subject.assignment("announcer") });
    assert.equal(info.state.subjects?.[Subject.assignment("announcer")], 1, "the agent receives one assignment");
  });

  test("two replicas that both think they lead never place a job twice or fill a slot twice", async () => {
    await putAgent("host-1", [gpu(0)]);
    const jobs = [datasetReady(), datasetReady(), datasetReady()];
    for (const job of jobs) await enqueue(job);
    const recorded: Recorded = { assignments: [], events: [] };
    const [one, two] = await Promise.all([scheduleRound(deps(recorded)), scheduleRound(deps(recorded))]);
    const placed = [...one.placed, ...two.placed];
    assert.equal(placed.length, 1, `exactly one placement on the single slot, got ${placed.join(", ")}`);
    assert.equal(recorded.assignments.length, 1, "exactly one assignment published");
  });
});

describe("finishJob: retention of a finished job's keys (real NATS KV, per-message TTL)", () => {
  test("a released job's outcome and cancellation keys expire after the TTL; a running job's stay", async () => {
    const [outcomeExpiry, cancellationExpiry, cancellations, outcomeKv] = await Promise.all([
      openKeyExpiry(nc, Bucket.jobOutcomes),
      openKeyExpiry(nc, Bucket.cancellations),
      openKv(nc, Bucket.cancellations),
      openKv(nc, Bucket.jobOutcomes),
    ]);
    const ttlMs = 1_000;
    const expireJobKeys = async (jobId: string) => {
      await outcomeExpiry.expireAfter(jobId, ttlMs);
      await cancellationExpiry.expireAfter(jobId, ttlMs);
    };
    const finished = datasetReady();
    const running = datasetReady();
    for (const job of [finished, running]) {
      await enqueue(job);
      // both were cancelled; only the first has reached its terminal event
      await cancellations.put(
        job.job_id,
        JSON.stringify({ job_id: job.job_id, requested_at: new Date().toISOString() }),
      );
      await outcomes.claim(job.job_id, "cancelled");
    }
    await finishJob({ queue, cluster, log, expireJobKeys }, finished.job_id);
    const present = async (kv: KV, key: string) => (await kv.get(key))?.operation === "PUT";
    const deadline = Date.now() + 10_000;
    while ((await present(outcomeKv, finished.job_id)) || (await present(cancellations, finished.job_id))) {
      assert.ok(Date.now() < deadline, "the finished job's outcome and cancellation keys expire within 10 s");
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(await present(outcomeKv, running.job_id), true, "the running job's outcome is kept");
    assert.equal(await present(cancellations, running.job_id), true, "the running job's cancellation is kept");
    assert.equal(
      await outcomes.claim(finished.job_id, "completed"),
      "completed",
      "the expiry leaves no key behind that would block a later create",
    );
    assert.equal(
      await outcomeExpiry.expireAfter("never-written", ttlMs),
      false,
      "a key that holds no value has nothing to expire",
    );
  });
});

describe("leader election (real NATS KV)", () => {
  test("exactly one of two replicas leads, and the other takes over when it stops", async () => {
    const kv = await openKv(nc, Bucket.schedulerLeader);
    const a = startLeadership(kv, "replica-a", 100, log);
    const b = startLeadership(kv, "replica-b", 100, log);
    try {
      await Promise.all([a.confirm(), b.confirm()]);
      assert.equal(Number(a.isLeader()) + Number(b.isLeader()), 1, "exactly one leader");
      const [leader, follower] = a.isLeader() ? [a, b] : [b, a];
      await leader.stop();
      const deadline = Date.now() + 10_000;
      while (!(await follower.confirm())) {
        assert.ok(Date.now() < deadline, "the follower takes over within 10 s");
      }
      assert.equal(follower.isLeader(), true);
    } finally {
      await a.stop();
      await b.stop();
    }
  });
  test("confirm trusts a renewal for half the lease's TTL, then asks the server and sees a takeover", async () => {
    const kv = await openKv(nc, Bucket.schedulerLeader);
    const ttlMs = 600;
    const a = startLeadership(kv, "replica-a", 5_000, log, ttlMs);
    try {
      assert.equal(await a.confirm(), true);
      await kv.purge("leader"); // the lease expired...
      await kv.create("leader", JSON.stringify({ replica_id: "replica-b", since: new Date().toISOString() })); // ...and b took it
      await new Promise((r) => setTimeout(r, ttlMs / 2 + 50));
      assert.equal(await a.confirm(), false, "past half the TTL, the renewal fails against b's lease");
      assert.equal(a.isLeader(), false);
    } finally {
      await a.stop();
    }
  });
});
