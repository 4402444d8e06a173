/** The scheduler's queue bucket against a real nats-server, read directly and through its mirror. */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, beforeEach, test } from "node:test";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { Bucket, type JobPriority, type QueueEntry } from "@trainyard/contracts";
import { queueEntry, startNats, type Supervised } from "@trainyard/stack";
import { openJobQueue, type JobQueue } from "./job-queue.js";
import { ttlHeader } from "./key-expiry.js";
import { connectNats } from "./nats.js";
import { openKv } from "./stores.js";
import { QUEUE_REMOVAL_MARKER_TTL_MS } from "./topology.js";

let dir: string;
let nats: Supervised;
let nc: NatsConnection;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "trainyard-job-queue-"));
  const started = await startNats(join(dir, "nats"), () => undefined);
  nats = started.process;
  nc = await connectNats(started.url, "job-queue-test");
});

after(async () => {
  await nc?.close();
  await nats?.stop();
  await rm(dir, { recursive: true, force: true });
});

beforeEach(async () => {
  const kv = await openKv(nc, Bucket.queue);
  for await (const key of await kv.keys()) await kv.purge(key);
});

const entry = (seq: number, priority: JobPriority = "normal"): QueueEntry =>
  queueEntry(randomUUID(), seq, { priority });

const ids = async (queue: JobQueue) => (await queue.list()).map((s) => s.entry.job.job_id);

async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    assert.ok(Date.now() < deadline, `timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test("a mirrored queue sees its own writes at once, waiting entries in queue order, placed ones last", async () => {
  const queue = await openJobQueue(nc, { mirror: true });
  const other = await openJobQueue(nc, { mirror: true });
  try {
    const [low, first, high, second] = [entry(1, "low"), entry(2), entry(3, "high"), entry(4)];
    for (const e of [second, low, high, first]) assert.equal(await queue.enqueue(e), true);
    const order = [high, first, second, low].map((e) => e.job.job_id);
    assert.deepEqual(await ids(queue), order, "the writer's own list is right with no wait for the watch");

    const stored = await queue.get(first.job.job_id);
    assert.ok(stored);
    const placed = {
      ...first,
      placement: { agent_id: "a", slot: { index: 0, device: "cpu", name: "CPU" }, assigned_at: first.enqueued_at },
    };
    const revision = await queue.update(placed, stored.revision);
    assert.ok(revision !== null && revision > stored.revision, "an update returns the new revision");
    assert.equal(await queue.update(placed, stored.revision), null, "a write at a stale revision loses");
    assert.equal(await queue.remove(low.job.job_id), true);
    const expected = [high, second, first].map((e) => e.job.job_id);
    assert.deepEqual(await ids(queue), expected, "placed entries follow the waiting ones; removed ones are gone");
    const listed = (await queue.list()).find((s) => s.entry.job.job_id === first.job.job_id);
    assert.equal(listed?.revision, revision, "the mirror holds the revision the write returned");

    await until("the other process's mirror converges", async () => {
      return JSON.stringify(await ids(other)) === JSON.stringify(expected);
    });
    assert.deepEqual(await ids(await openJobQueue(nc)), expected, "a direct read lists the same");
  } finally {
    queue.stop();
    other.stop();
  }
});

test("a mirror opened on a filled bucket lists every entry before it is used", async () => {
  const writer = await openJobQueue(nc);
  const entries = Array.from({ length: 50 }, (_, i) => entry(i + 1));
  for (const e of entries) await writer.enqueue(e);
  const queue = await openJobQueue(nc, { mirror: true });
  try {
    assert.deepEqual(
      await ids(queue),
      entries.map((e) => e.job.job_id),
    );
  } finally {
    queue.stop();
  }
});

test("a job leaving the queue leaves only a marker that expires, and can be enqueued again", async () => {
  const queue = await openJobQueue(nc);
  const e = entry(1);
  const id = e.job.job_id;
  await queue.enqueue(e);
  const stored = await queue.get(id);
  assert.ok(stored && (await queue.remove(id, stored.revision)));
  const jsm = await jetstreamManager(nc);
  const marker = await jsm.streams.getMessage(`KV_${Bucket.queue}`, { last_by_subj: `$KV.${Bucket.queue}.${id}` });
  assert.equal(marker?.header.get("KV-Operation"), "PURGE", "the entry and its history are gone");
  assert.equal(marker?.header.get("Nats-TTL"), ttlHeader(QUEUE_REMOVAL_MARKER_TTL_MS), "the marker expires");
  assert.equal(await queue.get(id), null);
  assert.equal(await queue.enqueue(e), true, "the marker does not block a new entry");
});
