import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Subject, type CallbackDelivery, type RedeliveryRequest } from "@trainyard/contracts";
import type { Notifier } from "./notifier.js";
import { startRecordingReceiver, type RecordingReceiver } from "./testing/recording-receiver.js";
import { completedEvent, epochEvent, failedEvent, phaseEvent } from "./testing/job-events.js";
import { eventually, label, ofJob, startWorld, verified, type TestJob, type World } from "./testing/world.js";

const WAIT_MS = 15_000;
/** The file's compressed schedule: six attempts over 1.95 s, then a dead letter. */
const SCHEDULE_MS = [50, 100, 200, 400, 1_200];
const TIMEOUT_MS = 500;
/** Callbacks waiting longer than this on their unacknowledged event go to the outbox. */
const HOLD_MS = 150;

describe("notifier with real NATS, FerretDB and HTTP receivers", () => {
  let world: World;
  let notifier: Notifier;
  const receivers: RecordingReceiver[] = [];
  const receiver = async (...args: Parameters<typeof startRecordingReceiver>) => {
    const started = await startRecordingReceiver(...args);
    receivers.push(started);
    return started;
  };

  /** Publishes a whole two-epoch job, with a straggling epoch event after its terminal one. */
  const publishJob = async (job: TestJob, ending: "completed" | "failed" = "completed") => {
    await world.publish(phaseEvent(job.jobId, { phase: "downloading", percentage: 5 }));
    await world.publish(phaseEvent(job.jobId, { phase: "preparing", percentage: 10 }));
    await world.publish(epochEvent(job.jobId, 1));
    await world.publish(epochEvent(job.jobId, 2));
    await world.publish(phaseEvent(job.jobId, { phase: "validating", percentage: 95 }));
    await world.publish(ending === "completed" ? completedEvent(job.jobId) : failedEvent(job.jobId));
    await world.publish(epochEvent(job.jobId, 3, 3));
  };
  const FULL_JOB = [
    "progress downloading 5",
    "progress preparing 10",
    "progress training 50",
    "progress training 94",
    "progress validating 95",
    "training_completed",
  ];
  /** Waits until every callback of the job is settled and returns them. */
  const settledDeliveries = async (jobId: string, count: number, timeoutMs = WAIT_MS) => {
    let docs: CallbackDelivery[] = [];
    await eventually(
      `${count} settled callbacks of job ${jobId}`,
      async () => {
        docs = await world.deliveries(jobId);
        return docs.length === count && docs.every((d) => d.status !== "pending" && d.status !== "retrying");
      },
      timeoutMs,
    );
    return docs;
  };

  before(async () => {
    world = await startWorld("int");
    notifier = await world.startNotifier({
      retry: { scheduleMs: SCHEDULE_MS, jitter: 0 },
      http: { policy: { allowPrivate: true }, timeoutMs: TIMEOUT_MS },
      holdMs: HOLD_MS,
    });
    await notifier.active;
  });

  after(async () => {
    await Promise.all(receivers.map((r) => r.close()));
    await world?.close();
  });

  it("delivers a whole job's callbacks signed, valid, in order, terminal last, and logs each attempt", async () => {
    const hook = await receiver();
    const job = await world.startJob(hook.url);
    await publishJob(job);
    const docs = await settledDeliveries(job.jobId, 6);

    const requests = hook.requests.filter(ofJob(job.jobId));
    const callbacks = requests.map((r) => verified(r, job.secret));
    assert.deepEqual(callbacks.map(label), FULL_JOB, "the PRD's phases and epochs, then completion; no straggler");
    assert.deepEqual(
      requests.map((r) => r.headers["webhook-id"]),
      docs.map((d) => d._id),
      "each request carries its logged callback's id",
    );
    assert.deepEqual(
      requests.map((r) => r.body),
      docs.map((d) => d.body),
      "the bytes sent are the bytes logged",
    );
    for (const doc of docs) {
      assert.equal(doc.status, "delivered");
      assert.equal(doc.attempts.length, 1);
      const [attempt] = doc.attempts;
      assert.equal(attempt?.status_code, 204);
      assert.equal(attempt?.error, null);
      assert.ok(typeof attempt?.latency_ms === "number" && attempt.latency_ms >= 0, "latency is logged");
    }
  });

  it("retries a receiver that fails 3 times with the same id and body, then moves on", async () => {
    const hook = await receiver((i) => [503, 302, 400][i] ?? 204);
    const job = await world.startJob(hook.url);
    await world.publish(phaseEvent(job.jobId, { phase: "downloading", percentage: 5 }));
    await world.publish(failedEvent(job.jobId));
    const [first, last] = await settledDeliveries(job.jobId, 2);

    assert.equal(hook.requests.length, 5, "four attempts of the first callback, one of the second");
    const tries = hook.requests.slice(0, 4);
    for (const request of tries) verified(request, job.secret);
    assert.equal(new Set(tries.map((r) => r.headers["webhook-id"])).size, 1, "one webhook-id for every retry");
    assert.equal(new Set(tries.map((r) => r.body)).size, 1, "one body for every retry");
    assert.deepEqual(
      first?.attempts.map((a) => a.status_code),
      [503, 302, 400, 204],
    );
    assert.equal(first?.status, "delivered");
    const gaps = tries.slice(1).map((r, i) => r.at - tries[i]!.at);
    gaps.forEach((gap, i) => assert.ok(gap >= SCHEDULE_MS[i]! - 5, `retry ${i + 1} came after ${gap} ms`));
    assert.equal(verified(hook.requests[4]!, job.secret).type, "training_failed");
    assert.equal(last?.status, "delivered");
  });

  it("a failing receiver holds back only its own job", async () => {
    const down = await receiver(() => 503);
    const up = await receiver();
    const stuck = await world.startJob(down.url);
    const healthy = await world.startJob(up.url);
    await world.publish(phaseEvent(stuck.jobId, { phase: "downloading", percentage: 5 }));
    await down.waitFor((all) => all.length >= 2, WAIT_MS, "the failing job's first retry");
    await publishJob(healthy);
    await up.waitFor((all) => all.length >= 6, WAIT_MS, "the healthy job's callbacks");
    const stuckDocs = await world.deliveries(stuck.jobId);
    assert.equal(stuckDocs[0]?.status, "retrying", "the failing job is still retrying meanwhile");
    assert.deepEqual(
      up.requests.map((r) => label(verified(r, healthy.secret))),
      FULL_JOB,
    );
  });

  it("rides out a receiver that is down for the start of a job: everything arrives in order, terminal last", async () => {
    const downUntil = performance.now() + 1_000;
    const hook = await receiver((_, request) => (request.at < downUntil ? "drop" : 204));
    const job = await world.startJob(hook.url, 5);
    await world.publish(phaseEvent(job.jobId, { phase: "downloading", percentage: 5, total_epochs: 5 }));
    await world.publish(phaseEvent(job.jobId, { phase: "preparing", percentage: 10, total_epochs: 5 }));
    for (let epoch = 1; epoch <= 5; epoch++) await world.publish(epochEvent(job.jobId, epoch, 5));
    await world.publish(phaseEvent(job.jobId, { phase: "validating", percentage: 95, total_epochs: 5 }));
    await world.publish(completedEvent(job.jobId));
    const docs = await settledDeliveries(job.jobId, 9);

    const arrived = hook.requests.filter((r) => r.at >= downUntil).map((r) => verified(r, job.secret));
    assert.equal(arrived.at(-1)?.type, "training_completed", "the terminal callback arrives, last");
    const delivered = docs.filter((d) => d.status === "delivered");
    assert.deepEqual(
      arrived.map((c) => JSON.stringify(c)),
      delivered.map((d) => d.body),
      "what arrived is every delivered callback, in job order",
    );
    for (const doc of docs) {
      assert.ok(doc.status === "delivered" || doc.status === "superseded", `${doc._id} ended ${doc.status}`);
      if (doc.status === "superseded") assert.equal(doc.type, "training_progress", "only progress is superseded");
    }
    assert.ok(
      docs.some((d) => d.status === "superseded"),
      "stale progress was folded while the receiver was down",
    );
    const failedTries = docs.flatMap((d) => d.attempts).filter((a) => a.status_code === null);
    assert.ok(failedTries.length >= 3, "the outage shows in the log as failed attempts");
    assert.ok(failedTries.every((a) => a.error !== null));
  });

  it("stops a job's callbacks at 410 Gone", async () => {
    const hook = await receiver((i) => (i === 0 ? 410 : 204));
    const job = await world.startJob(hook.url);
    await publishJob(job);
    const docs = await settledDeliveries(job.jobId, 6);
    assert.equal(hook.requests.length, 1, "nothing is sent after the 410");
    assert.deepEqual(
      docs.map((d) => d.status),
      Array(6).fill("gone"),
    );
    assert.deepEqual(
      docs[0]?.attempts.map((a) => a.status_code),
      [410],
    );
    assert.ok(docs.slice(1).every((d) => d.attempts.length === 0));
  });

  it("waits as long as Retry-After asks before the next attempt", async () => {
    const hook = await receiver((i) => (i === 0 ? { status: 503, headers: { "Retry-After": "1" } } : 204));
    const job = await world.startJob(hook.url);
    await world.publish(completedEvent(job.jobId));
    await hook.waitFor((all) => all.length >= 2, WAIT_MS, "the retry");
    const gap = hook.requests[1]!.at - hook.requests[0]!.at;
    assert.ok(gap >= 950, `the retry came ${gap} ms later; Retry-After asked for 1 s (the schedule says 50 ms)`);
    const [doc] = await settledDeliveries(job.jobId, 1);
    assert.deepEqual(
      doc?.attempts.map((a) => a.status_code),
      [503, 204],
    );
  });

  it("gives up an attempt when the receiver never answers, and retries", async () => {
    const hook = await receiver((i) => (i === 0 ? "hang" : 204));
    const job = await world.startJob(hook.url);
    await world.publish(completedEvent(job.jobId));
    const [doc] = await settledDeliveries(job.jobId, 1);
    const [timedOut, retried] = doc?.attempts ?? [];
    assert.equal(timedOut?.status_code, null);
    assert.equal(timedOut?.error, `no answer within ${TIMEOUT_MS} ms`);
    assert.ok((timedOut?.latency_ms ?? 0) >= TIMEOUT_MS - 50, `the attempt lasted ${timedOut?.latency_ms} ms`);
    assert.equal(retried?.status_code, 204);
    assert.equal(doc?.status, "delivered");
  });

  it("writes a callback that waits behind a slow one to the outbox, then delivers both in order", async () => {
    const hook = await receiver((i) => (i === 0 ? "hang" : 204));
    const job = await world.startJob(hook.url);
    await world.publish(phaseEvent(job.jobId, { phase: "downloading", percentage: 5 }));
    await world.publish(completedEvent(job.jobId));
    await eventually(
      "the waiting terminal callback in the outbox, before any attempt",
      async () => {
        const docs = await world.deliveries(job.jobId);
        return docs.some((d) => d.type === "training_completed" && d.status === "pending" && d.attempts.length === 0);
      },
      WAIT_MS,
    );
    const docs = await settledDeliveries(job.jobId, 2);
    assert.deepEqual(
      docs.map((d) => `${d.type} ${d.status}`),
      ["training_progress delivered", "training_completed delivered"],
    );
    assert.deepEqual(
      hook.requests.map((r) => verified(r, job.secret).type),
      ["training_progress", "training_progress", "training_completed"],
    );
  });

  it("dead-letters a callback after the last attempt; an operator can redeliver it", async () => {
    const hook = await receiver(() => 500);
    const job = await world.startJob(hook.url);
    await world.publish(phaseEvent(job.jobId, { phase: "downloading", percentage: 5 }));
    await world.publish(completedEvent(job.jobId));
    const [progress, terminal] = await settledDeliveries(job.jobId, 2);
    assert.ok(progress && terminal, "both callbacks are logged");
    assert.equal(progress.status, "dead_lettered");
    assert.equal(progress.attempts.length, SCHEDULE_MS.length + 1);
    assert.match(progress.reason ?? "", /6 failed attempts; last: receiver answered 500/);
    assert.equal(terminal.status, "dead_lettered", "the terminal callback gets its own schedule, then dead-letters");

    hook.answerWith(() => 204);
    const redeliver = (callbackId: string) => {
      const request: RedeliveryRequest = {
        job_id: job.jobId,
        callback_id: callbackId,
        requested_at: new Date().toISOString(),
      };
      return world.js.publish(Subject.redeliverCallback, JSON.stringify(request), {
        msgID: `${callbackId}:${request.requested_at}`,
      });
    };
    const before = hook.requests.length;
    await redeliver(progress._id);
    await redeliver(terminal._id);
    await hook.waitFor((all) => all.length >= before + 2, WAIT_MS, "both redelivered callbacks");
    const again = hook.requests.slice(before).map((r) => verified(r, job.secret));
    assert.deepEqual(again.map(label), ["progress downloading 5", "training_completed"]);
    assert.deepEqual(
      hook.requests.slice(before).map((r) => r.headers["webhook-id"]),
      [progress._id, terminal._id],
      "a redelivery keeps the webhook-id",
    );
    const redelivered = await settledDeliveries(job.jobId, 2);
    for (const doc of redelivered) {
      assert.equal(doc.status, "delivered");
      assert.ok(doc.redelivered_at, "the log says it was redelivered");
      assert.equal(doc.attempts.at(-1)?.status_code, 204);
      assert.equal(doc.attempts.length, SCHEDULE_MS.length + 2, "earlier attempts stay in the log");
    }

    // progress after a delivered terminal callback would break the job's order: refused. Requests
    // are handled in order, so once the next one (the terminal again) arrives, the first was decided.
    const sentBefore = hook.requests.length;
    await redeliver(progress._id);
    await redeliver(terminal._id);
    await hook.waitFor((all) => all.length >= sentBefore + 1, WAIT_MS, "the terminal callback once more");
    assert.deepEqual(
      hook.requests.slice(sentBefore).map((r) => r.headers["webhook-id"]),
      [terminal._id],
      "the progress callback was not sent after the delivered terminal one",
    );
  });

  it("refuses callback URLs the SSRF guard refuses, even with private networks allowed", async () => {
    const job = await world.startJob("http://169.254.169.254/latest/meta-data");
    await world.publish(completedEvent(job.jobId));
    const [doc] = await settledDeliveries(job.jobId, 1);
    assert.equal(doc?.status, "dead_lettered");
    assert.match(doc?.reason ?? "", /callback URL refused: .*cloud metadata/);
    assert.equal(doc?.attempts.length, 1, "refused at once, not retried");
  });
});
