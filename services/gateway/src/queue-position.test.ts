/**
 * `queue_position` and `estimated_start_time` of queued jobs in GET /api/v1/jobs/{id} and the
 * list, read from the scheduler's real queue bucket (NATS KV, watched), the projection (FerretDB)
 * and the agents' heartbeats. The tests write the queue as the scheduler does.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, beforeEach, describe, test } from "node:test";
import { JobList, JobView, type JobStatus } from "@trainyard/contracts";
import { DependencyError } from "./adapters/dependency.js";
import {
  FIXED_NOW,
  TYPICAL_JOB_SECONDS,
  at,
  call,
  clearJobsAndAgents,
  clearQueue,
  cpuSlots,
  expectStatus,
  putAgent,
  putJob,
  putQueueEntry,
  startAppSharing,
  startFixedClockHarness,
  waitFor,
  type Harness,
} from "./testing/harness.js";

describe("queue positions and start estimates from the scheduler's queue", () => {
  let h: Harness;

  before(async () => {
    h = await startFixedClockHarness();
  });

  after(async () => {
    await h?.close();
  });

  beforeEach(async () => {
    await clearJobsAndAgents(h);
    await clearQueue(h);
    await waitFor("the watched queue to empty", () =>
      Promise.resolve(h.queue.snapshot().waiting.length === 0 && h.queue.snapshot().placed.size === 0),
    );
  });

  /** A projected job in `status`, created `minute` minutes after the first. */
  const job = async (status: JobStatus, minute: number, changes: { eta_seconds?: number } = {}) => {
    const created_at = new Date(FIXED_NOW.getTime() - 3600_000 + minute * 60_000);
    return (await putJob(h, { status, created_at, ...changes }))._id;
  };

  /** Waits until this gateway's watch of the queue shows `waiting` in this order. */
  const untilWaiting = (waiting: string[]) =>
    waitFor(`the watched queue to be ${waiting.join(", ")}`, () =>
      Promise.resolve(JSON.stringify(h.queue.snapshot().waiting) === JSON.stringify(waiting)),
    );

  async function view(jobId: string, base: { url: string } = h): Promise<JobView> {
    const res = await call(base, "GET", `/api/v1/jobs/${jobId}`);
    expectStatus(res, 200, `GET job ${jobId}`);
    return JobView.parse(res.body);
  }

  const place = async (jobId: string) => {
    const { queue_position, estimated_start_time } = await view(jobId);
    return { queue_position, estimated_start_time };
  };

  test("waiting jobs report the scheduler's order (priority, then arrival), not creation order", async () => {
    await putAgent(h, { agent_id: "a", slots: cpuSlots(1) });
    const running = await job("training", 0, { eta_seconds: 600 });
    await putQueueEntry(h, running, 1, { placed: true });
    const createdFirst = await job("queued", 1);
    const createdSecond = await job("queued", 2);
    const urgent = await job("queued", 3);
    // the dataset of the second job was ready first; the urgent one jumps the queue
    await putQueueEntry(h, createdSecond, 2);
    await putQueueEntry(h, createdFirst, 3);
    await putQueueEntry(h, urgent, 4, { priority: "high" });
    await untilWaiting([urgent, createdSecond, createdFirst]);

    assert.deepEqual(await place(urgent), { queue_position: 1, estimated_start_time: at(600) }, "after the ETA");
    assert.deepEqual(
      await place(createdSecond),
      { queue_position: 2, estimated_start_time: at(600 + TYPICAL_JOB_SECONDS) },
      "expected the job whose dataset was ready first to come before the older one",
    );
    assert.deepEqual(await place(createdFirst), {
      queue_position: 3,
      estimated_start_time: at(600 + 2 * TYPICAL_JOB_SECONDS),
    });
    const training = await view(running);
    assert.ok(
      !("queue_position" in training) && !("estimated_start_time" in training),
      "expected no queue fields on a job that is training",
    );
  });

  test("a job still preparing its dataset has no position and is expected behind every waiting job", async () => {
    await putAgent(h, { agent_id: "a", slots: cpuSlots(2) });
    await putQueueEntry(h, await job("training", 0, { eta_seconds: 300 }), 1, { placed: true });
    await putQueueEntry(h, await job("training", 1, { eta_seconds: 900 }), 2, { placed: true });
    const waiting = await job("queued", 2);
    await putQueueEntry(h, waiting, 3);
    const preparing = await job("queued", 3);
    await untilWaiting([waiting]);
    assert.deepEqual(await place(waiting), { queue_position: 1, estimated_start_time: at(300) });
    assert.deepEqual(
      await place(preparing),
      { queue_position: null, estimated_start_time: at(900) },
      "expected no position, and the slot that frees after the waiting job took the first",
    );
  });

  test("an assigned job that has not started holds its slot: no position, starting now", async () => {
    await putAgent(h, { agent_id: "a", slots: cpuSlots(1) });
    const assigned = await job("queued", 0);
    await putQueueEntry(h, assigned, 1, { placed: true });
    const next = await job("queued", 1);
    await putQueueEntry(h, next, 2);
    await untilWaiting([next]);
    assert.deepEqual(await place(assigned), { queue_position: null, estimated_start_time: at(0) });
    assert.deepEqual(
      await place(next),
      { queue_position: 1, estimated_start_time: at(TYPICAL_JOB_SECONDS) },
      "expected the assigned job to count as a whole job on the only slot",
    );
  });

  test("positions move up as the jobs ahead leave the queue", async () => {
    await putAgent(h, { agent_id: "a", slots: cpuSlots(1) });
    const ids = [await job("queued", 0), await job("queued", 1), await job("queued", 2)];
    for (const [i, id] of ids.entries()) await putQueueEntry(h, id, i + 1);
    await untilWaiting(ids);
    const last = ids[2] ?? "";
    assert.equal((await place(last)).queue_position, 3);
    await putQueueEntry(h, ids[0] ?? "", 1, { placed: true });
    await untilWaiting(ids.slice(1));
    assert.equal((await place(last)).queue_position, 2, "expected one place up once the first job was placed");
    await h.queueKv.delete(ids[1] ?? "");
    await untilWaiting([last]);
    assert.equal((await place(last)).queue_position, 1, "expected the front once the job ahead left the queue");
  });

  test("the list reports the same positions and estimates as the job view, and none for other statuses", async () => {
    await putAgent(h, { agent_id: "a", slots: cpuSlots(1) });
    await job("completed", 0);
    const first = await job("queued", 1);
    const second = await job("queued", 2);
    await putQueueEntry(h, second, 1);
    await putQueueEntry(h, first, 2);
    await untilWaiting([second, first]);
    const res = await call(h, "GET", "/api/v1/jobs");
    expectStatus(res, 200, "the list");
    const page = JobList.parse(res.body);
    for (const id of [first, second]) {
      const entry = page.jobs.find((j) => j.job_id === id);
      assert.deepEqual(
        { queue_position: entry?.queue_position, estimated_start_time: entry?.estimated_start_time },
        await place(id),
        `expected the list and the view of ${id} to agree`,
      );
    }
    assert.deepEqual(
      page.jobs.map((j) => j.queue_position),
      [1, 2, undefined],
      "expected positions on the queued jobs only (newest first)",
    );
  });

  test("the agents bucket unreadable: the job is still served, without queue fields", async () => {
    const queued = await job("queued", 0);
    await putQueueEntry(h, queued, 1);
    await untilWaiting([queued]);
    const failing = await startAppSharing(h, {
      now: () => FIXED_NOW,
      bus: { ...h.bus, liveAgents: () => Promise.reject(new DependencyError("nats", new Error("down"))) },
    });
    try {
      const seen = await view(queued, failing);
      assert.equal(seen.status, "queued");
      assert.ok(!("queue_position" in seen), `expected no position without the agents, got ${JSON.stringify(seen)}`);
    } finally {
      await failing.close();
    }
  });

  test("an unknown job is still a 404", async () => {
    expectStatus(await call(h, "GET", `/api/v1/jobs/${randomUUID()}`), 404, "an unknown job");
  });
});
