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
import { ack, retryLater, startConsumer, type ConsumeOptions, type Delivery, type Outcome } from "./consume.js";
import { createLogger } from "./logger.js";
import { connectNats, ensureConsumer, ensureStreams } from "./nats.js";

const log = createLogger("consume-test", "silent");
const Payload = z.object({ n: z.int() });
type Payload = z.infer<typeof Payload>;

/** One case's subject and the durable consumer that alone reads it. */
interface Case {
  subject: string;
  consumer: string;
}

/** What a case chooses of the consumer loop; the stream, schema and logger are this file's. */
type CaseOptions = Omit<ConsumeOptions<typeof Payload>, "js" | "stream" | "consumer" | "schema" | "log">;

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
async function freshConsumer(ackWaitMs = 30_000): Promise<Case> {
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

/** Publishes `{ n }` for each of `ns` in order and waits until `c` acked them all; resolves to the last stream seq. */
async function publishAndSettle(c: Case, ns: number[]): Promise<number> {
  let last = 0;
  for (const n of ns) last = (await js.publish(c.subject, JSON.stringify({ n }))).seq;
  await settled(c.consumer, last);
  return last;
}

/** Starts the consumer loop on `c` with this file's stream, schema and logger. */
function consume(c: Case, opts: CaseOptions): Promise<{ stop(): Promise<void> }> {
  return startConsumer({ js, stream: TRAIN_STREAM, consumer: c.consumer, schema: Payload, log, ...opts });
}

/** Runs `body` while the consumer loop on `c` runs; the loop is stopped however `body` ends. */
async function whileConsuming(c: Case, opts: CaseOptions, body: () => Promise<void>): Promise<void> {
  const running = await consume(c, opts);
  try {
    await body();
  } finally {
    await running.stop();
  }
}

/** Counts the handlers running at once, and the most that ever ran together. */
class Overlap {
  active = 0;
  max = 0;

  /** A handler started; returns how many run now. */
  enter(): number {
    this.active++;
    this.max = Math.max(this.max, this.active);
    return this.active;
  }

  /** A handler returned. */
  leave(): void {
    this.active--;
  }
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
    const c = await freshConsumer();
    const terminated: string[] = [];
    const advisories = nc.subscribe(`$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.${TRAIN_STREAM}.${c.consumer}`, {
      callback: (_err, msg) => void terminated.push(msg.string()),
    });
    const seen: number[] = [];
    const handle = async (payload: Payload): Promise<Outcome> => {
      seen.push(payload.n);
      return ack;
    };
    try {
      await whileConsuming(c, { handle }, async () => {
        await js.publish(c.subject, JSON.stringify({ n: "not a number" }));
        await js.publish(c.subject, "{not json");
        await publishAndSettle(c, [7]);
        await waitFor("two MSG_TERMINATED advisories", () => (terminated.length >= 2 ? true : undefined));
        assert.deepEqual(seen, [7], "expected only the valid message to reach the handler");
        const info = await jsm.consumers.info(TRAIN_STREAM, c.consumer);
        assert.equal(info.num_redelivered, 0, "expected no redelivery of a terminated message");
        assert.equal(info.delivered.consumer_seq, 3, "expected each message delivered exactly once");
      });
    } finally {
      advisories.unsubscribe();
    }
  });

  test("a handler that throws once is retried with its back-off, then acked", async () => {
    const c = await freshConsumer();
    const attempts: number[] = [];
    const backoffAsked: number[] = [];
    const errorBackoffMs = (attempt: number) => {
      backoffAsked.push(attempt);
      return 50;
    };
    const handle = async (_payload: Payload, delivery: Delivery): Promise<Outcome> => {
      attempts.push(delivery.attempt);
      if (delivery.attempt === 1) throw new Error("transient failure");
      return ack;
    };
    await whileConsuming(c, { errorBackoffMs, handle }, async () => {
      await publishAndSettle(c, [1]);
      assert.deepEqual(attempts, [1, 2], "expected a first failing attempt and one successful retry");
      assert.deepEqual(backoffAsked, [1], "expected the back-off to be asked once, for attempt 1");
      const info = await jsm.consumers.info(TRAIN_STREAM, c.consumer);
      assert.equal(info.num_redelivered, 0, "expected nothing still waiting for redelivery after the ack");
    });
  });

  test("retryLater hands the message back and it is redelivered", async () => {
    const c = await freshConsumer();
    const deliveries: Array<Pick<Delivery, "attempt" | "subject" | "streamSequence">> = [];
    const handle = async (_payload: Payload, delivery: Delivery): Promise<Outcome> => {
      deliveries.push({
        attempt: delivery.attempt,
        subject: delivery.subject,
        streamSequence: delivery.streamSequence,
      });
      return delivery.attempt < 3 ? retryLater(30, "no slot yet") : ack;
    };
    await whileConsuming(c, { handle }, async () => {
      const seq = await publishAndSettle(c, [2]);
      assert.deepEqual(
        deliveries,
        [1, 2, 3].map((attempt) => ({ attempt, subject: c.subject, streamSequence: seq })),
        "expected the same message delivered three times, acked on the third",
      );
    });
  });

  test("concurrency 2 runs two handlers at the same time", async () => {
    const c = await freshConsumer();
    const overlap = new Overlap();
    let release!: () => void;
    const bothStarted = new Promise<void>((resolve) => (release = resolve));
    const handle = async (): Promise<Outcome> => {
      if (overlap.enter() === 2) release();
      // each handler waits for the other; with one at a time this only ends by the timeout
      await Promise.race([bothStarted, new Promise((r) => setTimeout(r, 5_000))]);
      overlap.leave();
      return ack;
    };
    await whileConsuming(c, { concurrency: 2, handle }, async () => {
      await publishAndSettle(c, [1, 2]);
      assert.equal(overlap.max, 2, "expected both handlers to be running at once");
    });
  });

  test("the default concurrency handles one message at a time, in stream order", async () => {
    const c = await freshConsumer();
    const overlap = new Overlap();
    const order: number[] = [];
    const handle = async (payload: Payload): Promise<Outcome> => {
      overlap.enter();
      await new Promise((r) => setTimeout(r, 10));
      order.push(payload.n);
      overlap.leave();
      return ack;
    };
    await whileConsuming(c, { handle }, async () => {
      await publishAndSettle(c, [1, 2, 3, 4]);
      assert.deepEqual(order, [1, 2, 3, 4], "expected stream order");
      assert.equal(overlap.max, 1, "expected never more than one handler at once");
    });
  });

  test("stop() waits for the running handler to finish", async () => {
    const c = await freshConsumer();
    let finished = false;
    let started!: () => void;
    const handlerStarted = new Promise<void>((resolve) => (started = resolve));
    const running = await consume(c, {
      handle: async () => {
        started();
        await new Promise((r) => setTimeout(r, 200));
        finished = true;
        return ack;
      },
    });
    await js.publish(c.subject, JSON.stringify({ n: 1 }));
    await handlerStarted;
    await running.stop();
    assert.equal(finished, true, "expected stop() to resolve only after the handler returned");
  });
});
