/**
 * The consumer loop against a real nats-server with JetStream: poison messages, handler errors,
 * explicit retries and concurrency, plus the idempotent topology set-up it relies on.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { jetstream, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { JOB_EVENTS_STREAM, TRAIN_STREAM } from "@trainyard/contracts";
import { startNats, type Supervised } from "@trainyard/stack";
import { z } from "zod";
import { ack, retryLater, startConsumer, type Delivery, type Outcome } from "./consume.js";
import { createLogger } from "./logger.js";
import { connectNats, ensureConsumer, ensureStreams } from "./nats.js";

const log = createLogger("consume-test", "silent");
const Payload = z.object({ n: z.int() });

let dir: string;
let nats: Supervised;
let nc: NatsConnection;
let jsm: JetStreamManager;
let js: JetStreamClient;
let caseNo = 0;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "trainyard-consume-"));
  const started = await startNats(join(dir, "nats"), () => undefined);
  nats = started.process;
  nc = await connectNats(started.url, "consume-test");
  jsm = await ensureStreams(nc);
  js = jetstream(nc);
});

after(async () => {
  await nc?.close();
  await nats?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** Polls `check` until it returns a value, failing with `what` after `timeoutMs`. */
async function waitFor<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A fresh subject and durable consumer on the TRAIN stream, so cases never see each other's messages. */
async function freshConsumer(ackWaitMs = 30_000): Promise<{ subject: string; consumer: string }> {
  const id = `c${++caseNo}`;
  const subject = `train.assign.consume-${id}`;
  const consumer = `consume-${id}`;
  await ensureConsumer(jsm, { stream: TRAIN_STREAM, name: consumer, filterSubjects: [subject], ackWaitMs });
  return { subject, consumer };
}

/** Resolves once the consumer has nothing pending or unacked and its ack floor reached `seq`. */
async function settled(consumer: string, seq: number): Promise<void> {
  await waitFor(`consumer ${consumer} to ack through stream seq ${seq}`, async () => {
    const info = await jsm.consumers.info(TRAIN_STREAM, consumer);
    return info.ack_floor.stream_seq >= seq && info.num_ack_pending === 0 && info.num_pending === 0 ? true : undefined;
  });
}

describe("ensureStreams and ensureConsumer", () => {
  test("running the set-up twice changes nothing and keeps stored messages", async () => {
    const before = await js.publish("train.assign.idempotency", JSON.stringify({ n: 1 }));
    await ensureStreams(nc);
    await ensureStreams(nc);
    const streams = await jsm.streams.names().next();
    assert.ok(streams.includes(TRAIN_STREAM) && streams.includes(JOB_EVENTS_STREAM), `got ${streams.join(",")}`);
    const info = await jsm.streams.info(TRAIN_STREAM);
    assert.ok(info.state.last_seq >= before.seq, "expected the stream to keep its messages after a second set-up");
    assert.deepEqual(info.config.subjects, [
      "train.requested",
      "train.dataset.ready",
      "train.assign.*",
      "train.callbacks.redeliver",
    ]);
    assert.ok(info.config.duplicate_window > 0, "expected a duplicate window on TRAIN");
  });

  test("ensureConsumer twice updates in place", async () => {
    const c = { stream: TRAIN_STREAM, name: "idempotent", filterSubjects: ["train.assign.idem"], ackWaitMs: 5_000 };
    await ensureConsumer(jsm, c);
    await ensureConsumer(jsm, { ...c, ackWaitMs: 7_000, maxAckPending: 1 });
    const info = await jsm.consumers.info(TRAIN_STREAM, "idempotent");
    assert.equal(info.config.ack_wait, 7_000 * 1_000_000, "expected the second call's ack wait");
    assert.equal(info.config.max_ack_pending, 1, "expected the second call's max_ack_pending");
  });

  test("a duplicate Nats-Msg-Id on TRAIN is stored once", async () => {
    const first = await js.publish("train.assign.dedupe", "{}", { msgID: "job-dedupe" });
    const second = await js.publish("train.assign.dedupe", "{}", { msgID: "job-dedupe" });
    assert.equal(second.duplicate, true, "expected the second publish to be reported as a duplicate");
    assert.equal(second.seq, first.seq, "expected the duplicate to map to the first message");
  });
});

describe("startConsumer", () => {
  test("a payload that breaks its contract is terminated, never handled and never redelivered", async () => {
    const { subject, consumer } = await freshConsumer();
    const terminated: string[] = [];
    const advisories = nc.subscribe(`$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.${TRAIN_STREAM}.${consumer}`, {
      callback: (_err, msg) => void terminated.push(msg.string()),
    });
    const seen: number[] = [];
    const running = await startConsumer({
      js,
      stream: TRAIN_STREAM,
      consumer,
      schema: Payload,
      log,
      handle: async (payload) => {
        seen.push(payload.n);
        return ack;
      },
    });
    try {
      await js.publish(subject, JSON.stringify({ n: "not a number" }));
      await js.publish(subject, "{not json");
      const good = await js.publish(subject, JSON.stringify({ n: 7 }));
      await settled(consumer, good.seq);
      await waitFor("two MSG_TERMINATED advisories", () => (terminated.length >= 2 ? true : undefined));
      assert.deepEqual(seen, [7], "expected only the valid message to reach the handler");
      const info = await jsm.consumers.info(TRAIN_STREAM, consumer);
      assert.equal(info.num_redelivered, 0, "expected no redelivery of a terminated message");
      assert.equal(info.delivered.consumer_seq, 3, "expected each message delivered exactly once");
    } finally {
      advisories.unsubscribe();
      await running.stop();
    }
  });

  test("a handler that throws once is retried with its back-off, then acked", async () => {
    const { subject, consumer } = await freshConsumer();
    const attempts: number[] = [];
    const backoffAsked: number[] = [];
    const running = await startConsumer({
      js,
      stream: TRAIN_STREAM,
      consumer,
      schema: Payload,
      log,
      errorBackoffMs: (attempt) => {
        backoffAsked.push(attempt);
        return 50;
      },
      handle: async (_payload, delivery) => {
        attempts.push(delivery.attempt);
        if (delivery.attempt === 1) throw new Error("transient failure");
        return ack;
      },
    });
    try {
      const pub = await js.publish(subject, JSON.stringify({ n: 1 }));
      await settled(consumer, pub.seq);
      assert.deepEqual(attempts, [1, 2], "expected a first failing attempt and one successful retry");
      assert.deepEqual(backoffAsked, [1], "expected the back-off to be asked once, for attempt 1");
      const info = await jsm.consumers.info(TRAIN_STREAM, consumer);
      assert.equal(info.num_redelivered, 0, "expected nothing still waiting for redelivery after the ack");
    } finally {
      await running.stop();
    }
  });

  test("retryLater hands the message back and it is redelivered", async () => {
    const { subject, consumer } = await freshConsumer();
    const deliveries: Array<Pick<Delivery, "attempt" | "subject" | "streamSequence">> = [];
    const running = await startConsumer({
      js,
      stream: TRAIN_STREAM,
      consumer,
      schema: Payload,
      log,
      handle: async (_payload, delivery): Promise<Outcome> => {
        deliveries.push({
          attempt: delivery.attempt,
          subject: delivery.subject,
          streamSequence: delivery.streamSequence,
        });
        return delivery.attempt < 3 ? retryLater(30, "no slot yet") : ack;
      },
    });
    try {
      const pub = await js.publish(subject, JSON.stringify({ n: 2 }));
      await settled(consumer, pub.seq);
      assert.deepEqual(
        deliveries,
        [1, 2, 3].map((attempt) => ({ attempt, subject, streamSequence: pub.seq })),
        "expected the same message delivered three times, acked on the third",
      );
    } finally {
      await running.stop();
    }
  });

  test("concurrency 2 runs two handlers at the same time", async () => {
    const { subject, consumer } = await freshConsumer();
    let active = 0;
    let maxActive = 0;
    let release!: () => void;
    const bothStarted = new Promise<void>((resolve) => (release = resolve));
    const running = await startConsumer({
      js,
      stream: TRAIN_STREAM,
      consumer,
      schema: Payload,
      log,
      concurrency: 2,
      handle: async () => {
        active++;
        maxActive = Math.max(maxActive, active);
        if (active === 2) release();
        // each handler waits for the other; with one at a time this only ends by the timeout
        await Promise.race([bothStarted, new Promise((r) => setTimeout(r, 5_000))]);
        active--;
        return ack;
      },
    });
    try {
      await js.publish(subject, JSON.stringify({ n: 1 }));
      const last = await js.publish(subject, JSON.stringify({ n: 2 }));
      await settled(consumer, last.seq);
      assert.equal(maxActive, 2, "expected both handlers to be running at once");
    } finally {
      await running.stop();
    }
  });

  test("the default concurrency handles one message at a time, in stream order", async () => {
    const { subject, consumer } = await freshConsumer();
    let active = 0;
    let maxActive = 0;
    const order: number[] = [];
    const running = await startConsumer({
      js,
      stream: TRAIN_STREAM,
      consumer,
      schema: Payload,
      log,
      handle: async (payload) => {
        active++;
        maxActive = Math.max(maxActive, active);
        await new Promise((r) => setTimeout(r, 10));
        order.push(payload.n);
        active--;
        return ack;
      },
    });
    try {
      let last = 0;
      for (const n of [1, 2, 3, 4]) last = (await js.publish(subject, JSON.stringify({ n }))).seq;
      await settled(consumer, last);
      assert.deepEqual(order, [1, 2, 3, 4], "expected stream order");
      assert.equal(maxActive, 1, "expected never more than one handler at once");
    } finally {
      await running.stop();
    }
  });

  test("stop() waits for the running handler to finish", async () => {
    const { subject, consumer } = await freshConsumer();
    let finished = false;
    let started!: () => void;
    const handlerStarted = new Promise<void>((resolve) => (started = resolve));
    const running = await startConsumer({
      js,
      stream: TRAIN_STREAM,
      consumer,
      schema: Payload,
      log,
      handle: async () => {
        started();
        await new Promise((r) => setTimeout(r, 200));
        finished = true;
        return ack;
      },
    });
    await js.publish(subject, JSON.stringify({ n: 1 }));
    await handlerStarted;
    await running.stop();
    assert.equal(finished, true, "expected stop() to resolve only after the handler returned");
  });
});
