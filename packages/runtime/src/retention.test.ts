/**
 * The bounds the topology gives its buckets and stores, against a real nats-server: the provisioner
 * turns on per-message TTLs in buckets created before them, a key given a TTL expires, and
 * artifacts expire by age while one rewritten in time (a running job's checkpoint) is kept.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { Bucket } from "@trainyard/contracts";
import { startNats, type Supervised } from "@trainyard/stack";
import { openKeyExpiry, ttlHeader } from "./key-expiry.js";
import { connectNats } from "./nats.js";
import { openKv, openObjectStore } from "./stores.js";
import { DEVELOPMENT_TOPOLOGY, provisionTopology } from "./topology.js";

let dir: string;
let nats: Supervised;
let nc: NatsConnection;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "trainyard-retention-"));
  const started = await startNats(join(dir, "nats"), () => undefined);
  nats = started.process;
  nc = await connectNats(started.url, "retention-test");
});

after(async () => {
  await nc?.close();
  await nats?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** Polls `check` every 100 ms until it holds; fails naming `what` after `timeoutMs`. */
async function until(what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test("a TTL is whole seconds, at least one", () => {
  assert.equal(ttlHeader(1), "1s");
  assert.equal(ttlHeader(1_000), "1s");
  assert.equal(ttlHeader(1_001), "2s");
  assert.equal(ttlHeader(7 * 86_400_000), "604800s");
});

test("the provisioner turns on TTLs in a bucket created without them; an expired key goes, others stay", async () => {
  // as an older release created it: no per-message TTLs
  const old = await new Kvm(nc).create(Bucket.cancellations, { history: 1 });
  await old.put("finished", "{}");
  await old.put("running", "{}");
  const expiry = await openKeyExpiry(nc, Bucket.cancellations);
  await assert.rejects(expiry.expireAfter("finished", 1_000), /TTL is disabled/, "the old bucket refuses a TTL");

  await provisionTopology(nc, DEVELOPMENT_TOPOLOGY);
  assert.equal(await expiry.expireAfter("finished", 1_000), true);
  const kv = await openKv(nc, Bucket.cancellations);
  await until("the key given a TTL expires", async () => (await kv.get("finished"))?.operation !== "PUT");
  assert.equal((await kv.get("running"))?.operation, "PUT", "a key without a TTL stays");
  await assert.rejects(openKeyExpiry(nc, Bucket.agents), /does not allow per-message TTLs/);
});

test("artifacts expire by age; one rewritten within the age (a running job's last.pt) is kept", async () => {
  await provisionTopology(nc, { ...DEVELOPMENT_TOPOLOGY, artifactsMaxAgeMs: 2_000 });
  const artifacts = await openObjectStore(nc, Bucket.artifacts);
  await artifacts.putBlob({ name: "finished/best.pt" }, new Uint8Array([1, 2, 3]));
  let epoch = 0;
  let writing = Promise.resolve();
  const writeCheckpoint = () =>
    (writing = writing.then(async () => {
      await artifacts.putBlob({ name: "running/last.pt" }, new Uint8Array([++epoch]));
    }));
  await writeCheckpoint();
  // an epoch every 500 ms, well inside the age
  const epochs = setInterval(() => void writeCheckpoint(), 500);
  try {
    await until("the finished job's model expires", async () => (await artifacts.info("finished/best.pt")) === null);
  } finally {
    clearInterval(epochs);
  }
  await writing;
  assert.ok(epoch > 4, `the checkpoint was rewritten past the age (${epoch} epochs)`);
  const checkpoint = await artifacts.getBlob("running/last.pt");
  assert.deepEqual([...(checkpoint ?? [])], [epoch], "the running job's latest checkpoint is kept, readable");
  await provisionTopology(nc, DEVELOPMENT_TOPOLOGY);
});
