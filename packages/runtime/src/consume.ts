import type { JetStreamClient, JsMsg } from "@nats-io/jetstream";
import type { z } from "zod";
import type { Logger } from "./logger.js";

/** What a handler decided: done, or come back later (the message stays unacked). */
export type Outcome = { kind: "ack" } | { kind: "retry"; afterMs: number; reason: string };
export const ack: Outcome = { kind: "ack" };
export const retryLater = (afterMs: number, reason: string): Outcome => ({ kind: "retry", afterMs, reason });

export interface Delivery {
  subject: string;
  /** 1 on first delivery. */
  attempt: number;
  streamSequence: number;
  /** Tells JetStream the handler is still busy, resetting the ack deadline. */
  working(): void;
}

export interface ConsumeOptions<S extends z.ZodType> {
  js: JetStreamClient;
  stream: string;
  consumer: string;
  schema: S;
  log: Logger;
  handle(payload: z.infer<S>, delivery: Delivery): Promise<Outcome>;
  /** Back-off for a handler that threw, by attempt number. */
  errorBackoffMs?: (attempt: number) => number;
  /** Handlers running at once (default 1, which keeps stream order). */
  concurrency?: number;
  /**
   * The handler may see a message twice with no harm: acks are sent without waiting for the
   * server to confirm them (a lost ack only means a redelivery). Default false: each ack is
   * confirmed before the next step.
   */
  idempotent?: boolean;
}

/**
 * How long one pull request waits on the server. A pull dies silently with the cluster node that
 * led its consumer; the client notices when two idle heartbeats (half this each) are missed and
 * pulls again from the new leader, so this bounds a consumer's stall after a node's loss (the
 * client's default, 30 s, held every callback and projection back that long), and so does a
 * restart of a single server. Every consumer loop pulls with it, `startConsumer`'s and its own.
 */
export const PULL_EXPIRES_MS = 5_000;

/**
 * Runs a durable pull consumer until `stop()`. A payload that fails its schema is terminated
 * (it will never parse), a handler error is retried with back-off; nothing is silently dropped.
 */
export async function startConsumer<S extends z.ZodType>(opts: ConsumeOptions<S>): Promise<{ stop(): Promise<void> }> {
  const consumer = await opts.js.consumers.get(opts.stream, opts.consumer);
  const concurrency = Math.max(1, opts.concurrency ?? 1);
  const messages = await consumer.consume({ max_messages: concurrency, expires: PULL_EXPIRES_MS });
  const backoff = opts.errorBackoffMs ?? ((attempt) => Math.min(30_000, 500 * 2 ** (attempt - 1)));
  const running = new Set<Promise<void>>();
  const done = (async () => {
    for await (const msg of messages) {
      const task = handleOne(msg, opts, backoff).finally(() => running.delete(task));
      running.add(task);
      if (running.size >= concurrency) await Promise.race(running);
    }
    await Promise.all(running);
  })();
  return {
    async stop() {
      await messages.close();
      await done;
    },
  };
}

async function handleOne<S extends z.ZodType>(
  msg: JsMsg,
  opts: ConsumeOptions<S>,
  backoff: (attempt: number) => number,
): Promise<void> {
  const delivery: Delivery = {
    subject: msg.subject,
    attempt: msg.info.deliveryCount,
    streamSequence: msg.info.streamSequence,
    working: () => msg.working(),
  };
  let payload: z.infer<S>;
  try {
    payload = opts.schema.parse(msg.json());
  } catch (err) {
    opts.log.error(
      { subject: msg.subject, seq: delivery.streamSequence, err: String(err) },
      "poison message terminated",
    );
    msg.term("payload does not match its contract");
    return;
  }
  let outcome: Outcome;
  try {
    outcome = await opts.handle(payload, delivery);
  } catch (err) {
    const afterMs = backoff(delivery.attempt);
    opts.log.error({ subject: msg.subject, attempt: delivery.attempt, after_ms: afterMs, err }, "handler failed");
    msg.nak(afterMs);
    return;
  }
  if (outcome.kind === "retry") {
    opts.log.info({ subject: msg.subject, after_ms: outcome.afterMs, reason: outcome.reason }, "retry later");
    msg.nak(outcome.afterMs);
    return;
  }
  if (opts.idempotent) {
    msg.ack();
    return;
  }
  try {
    await msg.ackAck();
  } catch (err) {
    // The work is done but the ack was not confirmed (its consumer's leader was lost, say): the
    // message comes again at once rather than after the ack wait, and its handler finds it done.
    opts.log.warn({ subject: msg.subject, seq: delivery.streamSequence, err: String(err) }, "ack not confirmed");
    msg.nak();
  }
}
