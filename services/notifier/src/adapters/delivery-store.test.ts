import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import {
  CALLBACK_DELIVERIES_COLLECTION,
  CALLBACK_OUTBOX_COLLECTION,
  type CallbackDelivery,
} from "@trainyard/contracts";
import { createLogger } from "@trainyard/runtime";
import { callbackFor } from "../callback-mapping.js";
import { newDelivery } from "../delivery-records.js";
import { epochEvent } from "../testing/job-events.js";
import { DOWNLOAD_LINKS, startWorld, type World } from "../testing/world.js";
import { openDeliveryStore, type DeliveryStore } from "./delivery-store.js";

describe("delivery store (FerretDB)", () => {
  let world: World;
  let store: DeliveryStore;
  const delivery = (jobId: string, seq: number): CallbackDelivery =>
    newDelivery(callbackFor(epochEvent(jobId, 1), DOWNLOAD_LINKS)!, seq, "pending", new Date());

  before(async () => {
    world = await startWorld("store");
    store = await openDeliveryStore(world.db, createLogger("store-test", "silent"));
  });

  after(async () => {
    await store?.close();
    await world?.close();
  });

  it("keeps open callbacks in the outbox and moves settled ones to the log", async () => {
    const jobId = randomUUID();
    const docs = Array.from({ length: 40 }, (_, i) => delivery(jobId, i + 1));
    await Promise.all(docs.map((d) => store.open(d)));
    assert.equal((await store.loadOpen()).filter((d) => d.job_id === jobId).length, 40, "every write is durable");

    const settled = { ...docs[0]!, status: "delivered" as const, revision: 2, next_attempt_at: null };
    await store.settle(settled);
    const open = (await store.loadOpen()).filter((d) => d.job_id === jobId);
    assert.equal(open.length, 39);
    assert.deepEqual(await store.findLogged(settled._id), settled);
    const job = await store.loadJob(jobId);
    assert.deepEqual(
      job.map((d) => d.seq),
      docs.map((d) => d.seq),
      "a job's callbacks come back in job order, each once",
    );
    assert.equal(job[0]?.status, "delivered");
  });

  it("finishes a move a crash interrupted, and keeps a redelivered callback open", async () => {
    const jobId = randomUUID();
    const moved = delivery(jobId, 1);
    const redelivered = delivery(jobId, 2);
    const outbox = world.db.collection<CallbackDelivery>(CALLBACK_OUTBOX_COLLECTION);
    const log = world.db.collection<CallbackDelivery>(CALLBACK_DELIVERIES_COLLECTION);
    // settled and logged at revision 2, but the crash came before its outbox copy was deleted
    await outbox.insertOne(moved);
    await log.insertOne({ ...moved, status: "delivered", revision: 2 });
    // dead-lettered at revision 2, then an operator's redelivery put revision 3 in the outbox
    await log.insertOne({ ...redelivered, status: "dead_lettered", revision: 2 });
    await outbox.insertOne({ ...redelivered, revision: 3, redelivered_at: new Date() });

    const open = (await store.loadOpen()).filter((d) => d.job_id === jobId);
    assert.deepEqual(
      open.map((d) => `${d.seq} r${d.revision}`),
      ["2 r3"],
    );
    assert.equal(await outbox.countDocuments({ _id: moved._id }), 0, "the stale outbox copy is removed");
    assert.deepEqual(
      (await store.loadJob(jobId)).map((d) => `${d.seq} ${d.status}`),
      ["1 delivered", "2 pending"],
    );
    await store.settle({ ...redelivered, status: "delivered", revision: 4, redelivered_at: new Date() });
    assert.equal(
      (await store.findLogged(redelivered._id))?.revision,
      4,
      "a redelivered callback replaces its log entry",
    );
  });

  it("tells whether a job's terminal callback was delivered", async () => {
    const jobId = randomUUID();
    assert.equal(await store.terminalDelivered(jobId), false);
    await store.logSettled({ ...delivery(jobId, 1), type: "training_completed", status: "delivered" });
    assert.equal(await store.terminalDelivered(jobId), true);
  });
});
