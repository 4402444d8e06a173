/** The read-only watch of the scheduler's queue against a real nats-server: load, changes, replicas. */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { NatsConnection } from "@nats-io/transport-node";
import { Bucket } from "@trainyard/contracts";
import { queueEntry, startNats, type Supervised } from "@trainyard/stack";
import { connectNats } from "./nats.js";
import { openKv, type KV } from "./stores.js";
import { watchQueue, type QueueWatch } from "./queue-watch.js";

let dir: string;
let nats: Supervised;
let nc: NatsConnection;
let kv: KV;
const watches: QueueWatch[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "trainyard-queue-watch-"));
  const started = await startNats(join(dir, "nats"), () => undefined);
  nats = started.process;
  nc = await connectNats(started.url, "queue-watch-test");
  kv = await openKv(nc, Bucket.queue);
});

after(async () => {
  for (const watch of watches) watch.stop();
  await nc?.close();
  await nats?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function open(changed?: () => void): Promise<QueueWatch> {
  const watch = await watchQueue(nc, changed ? { changed } : {});
  watches.push(watch);
  return watch;
}

/** Job ids are UUIDs; the tests name them. */
const ids = new Map<string, string>();
function id(name: string): string {
  const known = ids.get(name);
  if (known) return known;
  const fresh = randomUUID();
  ids.set(name, fresh);
  return fresh;
}
const named = (jobIds: Iterable<string>) => [...jobIds].map((j) => [...ids].find(([, v]) => v === j)?.[0] ?? j);
const put = (name: string, seq: number, opts?: Parameters<typeof queueEntry>[2]) =>
  kv.put(id(name), JSON.stringify(queueEntry(id(name), seq, opts)));

async function until(what: string, check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test("an empty bucket: the watch opens at once with an empty queue", async () => {
  const watch = await open();
  assert.deepEqual(watch.snapshot().waiting, []);
  assert.equal(watch.snapshot().placed.size, 0);
});

test("opens with the entries already there, in the scheduler's order, then follows every change", async () => {
  await put("j2", 2);
  await put("j1", 1);
  await put("j0", 0, { placed: true });
  await kv.put(id("junk"), "not json");
  let changes = 0;
  const watch = await open(() => changes++);
  assert.deepEqual(
    named(watch.snapshot().waiting),
    ["j1", "j2"],
    "expected the existing entries once open, by arrival",
  );
  assert.deepEqual(named(watch.snapshot().placed), ["j0"]);

  const before = changes;
  await put("j3", 3, { priority: "high" });
  await until("the high-priority job at the front", () => watch.snapshot().waiting[0] === id("j3"));
  assert.ok(changes > before, "expected `changed` to run for the new entry");

  await put("j1", 1, { placed: true });
  await kv.delete(id("j0"));
  const moved = () => watch.snapshot().placed.has(id("j1")) && !watch.snapshot().placed.has(id("j0"));
  await until("j1 placed and j0 gone", moved);
  assert.deepEqual(named(watch.snapshot().waiting), ["j3", "j2"]);
});

test("every replica's watch sees the whole queue (no shared consumer splitting the updates)", async () => {
  const [a, b] = await Promise.all([open(), open()]);
  for (let i = 10; i < 20; i++) await put(`r${i}`, i);
  const replicated = (w: QueueWatch) => named(w.snapshot().waiting).filter((n) => n.startsWith("r")).length === 10;
  await until("both replicas to see all ten new jobs", () => replicated(a) && replicated(b));
  assert.deepEqual(a.snapshot().waiting, b.snapshot().waiting, "expected the same order on both replicas");
});
