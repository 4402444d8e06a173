/**
 * GET /api/v1/jobs/{id}/callbacks and POST …/callbacks/{callback_id}/redeliver against real
 * NATS and FerretDB: the notifier's delivery log is written here as the notifier writes it.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import {
  CALLBACK_DELIVERIES_COLLECTION,
  CALLBACK_OUTBOX_COLLECTION,
  CallbackDeliveryList,
  PROJECTION_DB,
  RedeliveryAccepted,
  RedeliveryRequest,
  Subject,
  TRAIN_STREAM,
  type CallbackDelivery,
  type CallbackType,
  type DeliveryStatus,
} from "@trainyard/contracts";
import { MongoClient, type Collection } from "mongodb";
import { call, expectError, expectStatus, putJob, startHarness, type Harness } from "./testing/harness.js";

describe("callback delivery log API", () => {
  let h: Harness;
  let mongo: MongoClient;
  let settled: Collection<CallbackDelivery>;
  let outbox: Collection<CallbackDelivery>;

  before(async () => {
    h = await startHarness();
    mongo = await new MongoClient(h.mongoUrl).connect();
    settled = mongo.db(PROJECTION_DB).collection(CALLBACK_DELIVERIES_COLLECTION);
    outbox = mongo.db(PROJECTION_DB).collection(CALLBACK_OUTBOX_COLLECTION);
  });

  after(async () => {
    await mongo?.close();
    await h?.close();
  });

  const at = new Date("2025-01-20T10:35:42.000Z");
  const delivery = (
    jobId: string,
    seq: number,
    type: CallbackType,
    status: DeliveryStatus,
    changes: Partial<CallbackDelivery> = {},
  ): CallbackDelivery => ({
    _id: `${jobId}:${seq}`,
    job_id: jobId,
    seq,
    type,
    status,
    body: JSON.stringify({ type, job_id: jobId }),
    attempts:
      status === "pending"
        ? []
        : [{ attempt: 1, at, status_code: status === "delivered" ? 204 : 503, latency_ms: 12.5, error: null }],
    failures: status === "retrying" ? 1 : 0,
    reason: null,
    revision: 2,
    redelivered_at: null,
    created_at: at,
    updated_at: at,
    next_attempt_at: status === "pending" || status === "retrying" ? at : null,
    ...changes,
  });

  /** A job in the projection and its callbacks: settled ones in the log, open ones in the outbox. */
  async function jobWith(docs: (jobId: string) => CallbackDelivery[]): Promise<string> {
    const job = await putJob(h);
    const all = docs(job._id);
    const open = all.filter((d) => d.status === "pending" || d.status === "retrying");
    const done = all.filter((d) => !open.includes(d));
    if (done.length > 0) await settled.insertMany(done);
    if (open.length > 0) await outbox.insertMany(open);
    return job._id;
  }

  /** The redelivery requests on the TRAIN stream for `callbackId`. */
  async function redeliveryRequests(callbackId: string): Promise<RedeliveryRequest[]> {
    const found: RedeliveryRequest[] = [];
    const info = await h.jsm.streams.info(TRAIN_STREAM);
    for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
      const msg = await h.jsm.streams.getMessage(TRAIN_STREAM, { seq }).catch(() => null);
      if (msg?.subject !== Subject.redeliverCallback) continue;
      const request = RedeliveryRequest.parse(msg.json());
      if (request.callback_id === callbackId) found.push(request);
    }
    return found;
  }

  test("lists a job's callbacks from both collections, in job order, with every attempt", async () => {
    const jobId = await jobWith((id) => [
      delivery(id, 7, "training_progress", "delivered"),
      delivery(id, 3, "training_progress", "superseded", { reason: `superseded by ${id}:7` }),
      delivery(id, 9, "training_completed", "retrying"),
    ]);
    const res = await call(h, "GET", `/api/v1/jobs/${jobId}/callbacks`);
    expectStatus(res, 200, "the callback list");
    const list = CallbackDeliveryList.parse(res.body);
    assert.equal(list.total, 3);
    assert.deepEqual(
      list.callbacks.map((c) => `${c.callback_id} ${c.status}`),
      [`${jobId}:3 superseded`, `${jobId}:7 delivered`, `${jobId}:9 retrying`],
    );
    const [, delivered, retrying] = list.callbacks;
    assert.deepEqual(delivered?.attempts, [
      { attempt: 1, at: at.toISOString(), status_code: 204, latency_ms: 12.5, error: null },
    ]);
    assert.equal(delivered?.body, JSON.stringify({ type: "training_progress", job_id: jobId }));
    assert.equal(retrying?.next_attempt_at, at.toISOString());
    assert.equal(list.callbacks[0]?.reason, `superseded by ${jobId}:7`);
  });

  test("shows the newest revision where both collections hold a callback (a redelivery under way)", async () => {
    const jobId = await jobWith((id) => [delivery(id, 4, "training_failed", "dead_lettered")]);
    await outbox.insertOne(delivery(jobId, 4, "training_failed", "pending", { revision: 3, redelivered_at: at }));
    const list = CallbackDeliveryList.parse((await call(h, "GET", `/api/v1/jobs/${jobId}/callbacks`)).body);
    assert.deepEqual(
      list.callbacks.map((c) => `${c.status} ${c.redelivered_at}`),
      [`pending ${at.toISOString()}`],
    );
  });

  test("filters by status and pages", async () => {
    const jobId = await jobWith((id) =>
      Array.from({ length: 5 }, (_, i) => delivery(id, i + 1, "training_progress", i % 2 ? "superseded" : "delivered")),
    );
    const delivered = CallbackDeliveryList.parse(
      (await call(h, "GET", `/api/v1/jobs/${jobId}/callbacks?status=delivered&limit=2&offset=1`)).body,
    );
    assert.equal(delivered.total, 3);
    assert.deepEqual(
      delivered.callbacks.map((c) => c.callback_id),
      [`${jobId}:3`, `${jobId}:5`],
    );
    const empty = CallbackDeliveryList.parse(
      (await call(h, "GET", `/api/v1/jobs/${(await putJob(h))._id}/callbacks`)).body,
    );
    assert.deepEqual(empty.callbacks, [], "a job with no callback yet has an empty log");
  });

  test("refuses bad ids and parameters, unknown jobs and missing tokens", async () => {
    expectError(await call(h, "GET", "/api/v1/jobs/not-a-uuid/callbacks"), 400, "INVALID_PARAMETER", "a bad job id");
    const jobId = await jobWith(() => []);
    expectError(
      await call(h, "GET", `/api/v1/jobs/${jobId}/callbacks?status=lost`),
      400,
      "INVALID_PARAMETER",
      "an unknown status",
    );
    expectError(
      await call(h, "GET", `/api/v1/jobs/${jobId}/callbacks?limit=1000`),
      400,
      "INVALID_PARAMETER",
      "a page too large",
    );
    expectError(await call(h, "GET", `/api/v1/jobs/${randomUUID()}/callbacks`), 404, "JOB_NOT_FOUND", "an unknown job");
    expectError(
      await call(h, "GET", `/api/v1/jobs/${jobId}/callbacks`, { token: null }),
      401,
      "UNAUTHORIZED",
      "no token",
    );
    expectError(
      await call(h, "DELETE", `/api/v1/jobs/${jobId}/callbacks`),
      405,
      "METHOD_NOT_ALLOWED",
      "DELETE on the list",
    );
  });

  test("redeliver: 202 and a RedeliveryRequest for the notifier", async () => {
    const jobId = await jobWith((id) => [delivery(id, 2, "training_completed", "dead_lettered")]);
    const callbackId = `${jobId}:2`;
    const res = await call(h, "POST", `/api/v1/jobs/${jobId}/callbacks/${callbackId}/redeliver`);
    expectStatus(res, 202, "a redelivery");
    const accepted = RedeliveryAccepted.parse(res.body);
    assert.equal(accepted.callback_id, callbackId);
    assert.equal(accepted.status, "redelivery_requested");
    assert.deepEqual(await redeliveryRequests(callbackId), [
      { job_id: jobId, callback_id: callbackId, requested_at: accepted.requested_at },
    ]);
  });

  test("redeliver refuses unknown callbacks and progress after a delivered terminal callback", async () => {
    const jobId = await jobWith((id) => [
      delivery(id, 2, "training_progress", "dead_lettered"),
      delivery(id, 3, "training_completed", "delivered"),
    ]);
    const other = await jobWith((id) => [delivery(id, 2, "training_progress", "dead_lettered")]);
    const redeliver = (job: string, callback: string) =>
      call(h, "POST", `/api/v1/jobs/${job}/callbacks/${callback}/redeliver`);
    expectError(await redeliver(jobId, `${jobId}:99`), 404, "CALLBACK_NOT_FOUND", "an unknown callback");
    expectError(await redeliver(jobId, `${other}:2`), 404, "CALLBACK_NOT_FOUND", "another job's callback");
    expectError(await redeliver(jobId, "not-an-id"), 400, "INVALID_PARAMETER", "a malformed callback id");
    expectError(await redeliver(jobId, `${jobId}:2`), 409, "JOB_FINISHED", "progress after the delivered end");
    assert.deepEqual(await redeliveryRequests(`${jobId}:2`), [], "nothing is asked of the notifier");
    expectStatus(await redeliver(jobId, `${jobId}:3`), 202, "the terminal callback itself");
    expectError(
      await call(h, "GET", `/api/v1/jobs/${jobId}/callbacks/${jobId}:3/redeliver`),
      405,
      "METHOD_NOT_ALLOWED",
      "GET on redeliver",
    );
  });
});
