/**
 * scheduleJob and releaseSlot against a real nats-server: agents and leases live in real KV
 * buckets, assignments and events are really published to their streams.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, beforeEach, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { jetstream, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  Bucket,
  JOB_EVENTS_STREAM,
  JobAssignment,
  JobEvent,
  SlotLease,
  Subject,
  TRAIN_STREAM,
  type AgentHeartbeat,
  type DatasetReady,
  type Slot,
} from "@trainyard/contracts";
import {
  connectNats,
  createLogger,
  ensureStreams,
  openKv,
  publishJobEvent,
  publishJson,
  type Delivery,
  type KV,
} from "@trainyard/runtime";
import { exampleTrainRequest, startNats, type Supervised } from "@trainyard/stack";
import { openCluster, type Cluster } from "./adapters/cluster.js";
import { releaseSlot, scheduleJob, type SchedulingDeps } from "./scheduling.js";

const log = createLogger("scheduler-test", "silent");
const H100: Slot = { index: 0, device: "cuda:0", name: "NVIDIA H100" };

let dir: string;
let nats: Supervised;
let nc: NatsConnection;
let jsm: JetStreamManager;
let js: JetStreamClient;
let agents: KV;
let assignments: KV;
let cluster: Cluster;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "trainyard-scheduler-"));
  const started = await startNats(join(dir, "nats"), () => undefined);
  nats = started.process;
  nc = await connectNats(started.url, "scheduler-test");
  jsm = await ensureStreams(nc);
  js = jetstream(nc);
  cluster = await openCluster(nc);
  agents = await openKv(nc, Bucket.agents);
  assignments = await openKv(nc, Bucket.assignments);
});

after(async () => {
  await nc?.close();
  await nats?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** Empties both buckets, so each test starts from a cluster it describes itself. */
async function resetCluster(): Promise<void> {
  for (const kv of [agents, assignments]) {
    for await (const key of await kv.keys()) await kv.purge(key);
  }
}

async function putAgent(agentId: string, slots: Slot[]): Promise<void> {
  const now = new Date().toISOString();
  const beat: AgentHeartbeat = { agent_id: agentId, host: agentId, slots, gpus: [], started_at: now, seen_at: now };
  await agents.put(agentId, JSON.stringify(beat));
}

function datasetReady(): DatasetReady {
  const request = exampleTrainRequest({
    datasetUrl: "https://datasets.example.com/shapes.zip",
    callbackUrl: "https://app.example.com/hook",
    callbackSecret: "sk_test",
    epochs: 2,
    imageSize: 64,
    batchSize: 4,
  });
  return {
    job_id: request.job_id,
    requested_at: new Date().toISOString(),
    model_config: request.model_config,
    dataset: request.dataset,
    dataset_object: `${request.job_id}.zip`,
    dataset_root: "",
    dataset_sha256: "a".repeat(64),
    dataset_info: {
      total_images: 12,
      train_images: 8,
      val_images: 4,
      classes: ["circle"],
      class_distribution: { circle: 12 },
    },
  };
}

/** A delivery as the consumer hands it over; counts in-progress acks. */
function fakeDelivery(attempt = 1): Delivery & { workingCalls: number } {
  const d = {
    subject: Subject.datasetReady,
    attempt,
    streamSequence: 1,
    workingCalls: 0,
    working() {
      d.workingCalls++;
    },
  };
  return d;
}

interface Recorded {
  assignments: JobAssignment[];
  events: JobEvent[];
}

function deps(recorded: Recorded, overrides: Partial<SchedulingDeps> = {}): SchedulingDeps {
  return {
    cluster,
    publishAssignment: async (a) => {
      recorded.assignments.push(a);
      await publishJson(js, Subject.assignment(a.agent_id), a, `${a.job_id}:assign:${a.agent_id}`);
    },
    publishEvent: async (event, msgId) => {
      recorded.events.push(event);
      await publishJobEvent(js, event, msgId);
    },
    isCancelled: async () => false,
    log,
    pollMs: 20,
    holdMs: 60_000,
    now: () => new Date(),
    sleep: (ms) => sleep(ms),
    ...overrides,
  };
}

async function leasesOf(jobId: string): Promise<SlotLease[]> {
  return [...(await cluster.leases()).values()].filter((l) => l.job_id === jobId);
}

describe("scheduleJob and releaseSlot (real NATS)", () => {
  beforeEach(resetCluster);

  test("one slot: lease and assignment for A, retry for B, B placed once A releases, A redelivered unchanged", async () => {
    await putAgent("gpu-host-1", [H100]);
    const recorded: Recorded = { assignments: [], events: [] };
    const a = datasetReady();
    const b = datasetReady();

    // A gets the only slot
    const outcomeA = await scheduleJob(deps(recorded), a, fakeDelivery());
    assert.deepEqual(outcomeA, { kind: "ack" }, "expected A to be placed and acked");
    const leaseEntry = await assignments.get("gpu-host-1.0");
    assert.ok(leaseEntry && leaseEntry.operation === "PUT", "expected a lease at gpu-host-1.0");
    const lease = SlotLease.parse(leaseEntry.json());
    assert.equal(lease.job_id, a.job_id, "expected the lease to name job A");

    const assignMsg = await jsm.streams.getMessage(TRAIN_STREAM, { last_by_subj: Subject.assignment("gpu-host-1") });
    assert.ok(assignMsg, "expected an assignment on train.assign.gpu-host-1");
    assert.equal(assignMsg.header?.get("Nats-Msg-Id"), `${a.job_id}:assign:gpu-host-1`);
    const assignment = JobAssignment.parse(assignMsg.json());
    assert.equal(assignment.job_id, a.job_id);
    assert.equal(assignment.agent_id, "gpu-host-1");
    assert.deepEqual(assignment.slot, H100);
    assert.equal(assignment.assigned_at, lease.assigned_at, "expected the assignment time to be the lease's");
    assert.equal(assignment.dataset_object, a.dataset_object, "expected the dataset-ready fields carried along");

    const eventMsg = await jsm.streams.getMessage(JOB_EVENTS_STREAM, {
      last_by_subj: Subject.jobEvent(a.job_id, "assigned"),
    });
    assert.ok(eventMsg, "expected an assigned job event");
    const event = JobEvent.parse(eventMsg.json());
    assert.ok(event.type === "assigned" && event.agent_id === "gpu-host-1", `got ${eventMsg.string()}`);

    // A redelivered while it holds its lease: the same assignment again, deduplicated by the stream
    const trainSeq = (await jsm.streams.info(TRAIN_STREAM)).state.last_seq;
    const again = await scheduleJob(deps(recorded), a, fakeDelivery(2));
    assert.deepEqual(again, { kind: "ack" }, "expected the redelivered A to be acked");
    assert.deepEqual(
      recorded.assignments[1],
      recorded.assignments[0],
      "expected the identical assignment re-published",
    );
    assert.equal((await jsm.streams.info(TRAIN_STREAM)).state.last_seq, trainSeq, "expected the stream to drop it");
    assert.equal(
      (await assignments.get("gpu-host-1.0"))?.revision,
      leaseEntry.revision,
      "expected the lease untouched",
    );

    // B finds no slot and hands its message back after holdMs, signalling progress meanwhile
    const deliveryB = fakeDelivery();
    const startedB = Date.now();
    const outcomeB = await scheduleJob(deps(recorded, { holdMs: 150 }), b, deliveryB);
    assert.equal(outcomeB.kind, "retry", `expected B to be retried later, got ${JSON.stringify(outcomeB)}`);
    assert.ok(Date.now() - startedB >= 150, "expected B to be held for holdMs before the retry");
    assert.ok(deliveryB.workingCalls > 0, "expected in-progress acks while B was held");
    assert.deepEqual(await leasesOf(b.job_id), [], "expected no lease for B");

    // A finishes: its slot is freed, and B gets it
    assert.deepEqual(await releaseSlot({ cluster, log }, a.job_id), { kind: "ack" });
    assert.deepEqual(await leasesOf(a.job_id), [], "expected A's lease gone after release");
    assert.deepEqual(
      await releaseSlot({ cluster, log }, a.job_id),
      { kind: "ack" },
      "expected a second release to ack",
    );

    const outcomeB2 = await scheduleJob(deps(recorded, { holdMs: 5_000 }), b, fakeDelivery(2));
    assert.deepEqual(outcomeB2, { kind: "ack" }, "expected B placed once the slot was free");
    const leasesB = await leasesOf(b.job_id);
    assert.equal(leasesB.length, 1, "expected exactly one lease for B");
    assert.equal(leasesB[0]?.agent_id, "gpu-host-1");
    assert.equal(leasesB[0]?.slot_index, 0);
  });

  test("a held job is placed as soon as a slot frees up, without waiting for holdMs", async () => {
    await putAgent("gpu-host-1", [H100]);
    const recorded: Recorded = { assignments: [], events: [] };
    const a = datasetReady();
    const b = datasetReady();
    assert.equal((await scheduleJob(deps(recorded), a, fakeDelivery())).kind, "ack");
    const started = Date.now();
    const waiting = scheduleJob(deps(recorded, { holdMs: 20_000 }), b, fakeDelivery());
    await releaseSlot({ cluster, log }, a.job_id);
    assert.deepEqual(await waiting, { kind: "ack" }, "expected B placed while it was being held");
    assert.ok(Date.now() - started < 10_000, "expected B placed long before holdMs");
    assert.equal(recorded.assignments.at(-1)?.job_id, b.job_id);
  });

  test("a job cancelled while it waits for a slot leaves the queue with no lease", async () => {
    await putAgent("gpu-host-1", [H100]);
    const recorded: Recorded = { assignments: [], events: [] };
    const blocker = datasetReady();
    assert.deepEqual(await scheduleJob(deps(recorded), blocker, fakeDelivery()), { kind: "ack" });
    const waiting = datasetReady();
    let cancelled = false;
    const held = scheduleJob(
      deps(recorded, { isCancelled: async (jobId) => cancelled && jobId === waiting.job_id }),
      waiting,
      fakeDelivery(),
    );
    cancelled = true;
    assert.deepEqual(await held, { kind: "ack" }, "expected the cancelled job to be acked, not retried");
    assert.deepEqual(await leasesOf(waiting.job_id), [], "expected no lease for the cancelled job");
    assert.equal(
      recorded.assignments.filter((a) => a.job_id === waiting.job_id).length,
      0,
      "expected no assignment for the cancelled job",
    );
  });

  test("two agents: jobs are spread, one per agent", async () => {
    await putAgent("host-a", [H100, { index: 1, device: "cuda:1", name: "NVIDIA H100" }]);
    await putAgent("host-b", [H100, { index: 1, device: "cuda:1", name: "NVIDIA H100" }]);
    const recorded: Recorded = { assignments: [], events: [] };
    await scheduleJob(deps(recorded), datasetReady(), fakeDelivery());
    await scheduleJob(deps(recorded), datasetReady(), fakeDelivery());
    assert.deepEqual(
      recorded.assignments.map((a) => a.agent_id).sort(),
      ["host-a", "host-b"],
      "expected the two jobs on different agents",
    );
  });

  test("a job whose agent vanished is re-placed, and its release frees every slot it held", async () => {
    await putAgent("host-x", [H100]);
    const recorded: Recorded = { assignments: [], events: [] };
    const a = datasetReady();
    assert.equal((await scheduleJob(deps(recorded), a, fakeDelivery())).kind, "ack");
    assert.equal(recorded.assignments[0]?.agent_id, "host-x");

    // host-x's heartbeat expires, host-y comes up; A is redelivered and must move to host-y
    await agents.delete("host-x");
    await putAgent("host-y", [H100]);
    assert.equal((await scheduleJob(deps(recorded), a, fakeDelivery(2))).kind, "ack");
    assert.equal(recorded.assignments[1]?.agent_id, "host-y", "expected A re-placed on the live agent");

    // A completes: nothing may stay leased in its name, or host-x's slot is lost for good
    await releaseSlot({ cluster, log }, a.job_id);
    const left = await leasesOf(a.job_id);
    assert.deepEqual(
      left.map((l) => `${l.agent_id}.${l.slot_index}`),
      [],
      "expected no lease left for job A after its release",
    );
  });
});
