/** The cancellations bucket against a real nats-server: lookups and the live watch agents use. */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { NatsConnection } from "@nats-io/transport-node";
import { Bucket } from "@trainyard/contracts";
import { startNats, type Supervised } from "@trainyard/stack";
import { openCancellations } from "./cancellations.js";
import { connectNats } from "./nats.js";
import { openKv } from "./stores.js";

let dir: string;
let nats: Supervised;
let nc: NatsConnection;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "trainyard-cancellations-"));
  const started = await startNats(join(dir, "nats"), () => undefined);
  nats = started.process;
  nc = await connectNats(started.url, "cancellations-test");
});

after(async () => {
  await nc?.close();
  await nats?.stop();
  await rm(dir, { recursive: true, force: true });
});

const request = (jobId: string) => JSON.stringify({ job_id: jobId, requested_at: new Date().toISOString() });

test("isCancelled is true only for jobs in the cancellations bucket", async () => {
  const cancellations = await openCancellations(nc);
  const kv = await openKv(nc, Bucket.cancellations);
  const cancelled = randomUUID();
  await kv.put(cancelled, request(cancelled));
  assert.equal(await cancellations.isCancelled(cancelled), true, "a cancelled job is reported cancelled");
  assert.equal(await cancellations.isCancelled(randomUUID()), false, "another job is not");
});

test("watch reports cancellations made after it started, and only those", async () => {
  const cancellations = await openCancellations(nc);
  const kv = await openKv(nc, Bucket.cancellations);
  const earlier = randomUUID();
  await kv.put(earlier, request(earlier));
  const seen: string[] = [];
  const later = randomUUID();
  const arrived = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no watch callback for ${later}; saw ${seen.join(", ")}`)), 10_000);
    void cancellations
      .watch((jobId) => {
        seen.push(jobId);
        if (jobId === later) {
          clearTimeout(timer);
          resolve();
        }
      })
      .then(async (watch) => {
        await kv.put(later, request(later));
        await arrived.finally(() => watch.stop());
      });
  });
  await arrived;
  assert.deepEqual(seen, [later], "the watch reports the new cancellation, not the earlier one");
});
