import type { JetStreamManager } from "@nats-io/jetstream";
import { Consumer, JOB_EVENTS_STREAM, JobEvent, type Callback } from "@trainyard/contracts";
import { PULL_EXPIRES_MS, type Logger } from "@trainyard/runtime";
import type { DeliveryStore } from "./adapters/delivery-store.js";
import { admitEvent } from "./callback-intake.js";
import { callbackFor, CallbackContractError, type DownloadLinks } from "./callback-mapping.js";
import { newDelivery } from "./delivery-records.js";
import type { DeliveryScheduler } from "./delivery-scheduler.js";
import { webhookId } from "./signature.js";

export interface EventIntakeDeps {
  jsm: JetStreamManager;
  store: DeliveryStore;
  scheduler: DeliveryScheduler;
  links: DownloadLinks;
  log: Logger;
  /**
   * Starts the time to live of the job's callback target; called for its terminal event before
   * that event is acknowledged, so a crash in between calls it again, never not at all.
   */
  expireTarget(jobId: string): Promise<void>;
  /** Messages fetched ahead of the one being handled. */
  prefetch?: number;
  now?: () => Date;
}

/**
 * Turns `job.events.>` into callbacks, through the durable `notifier` consumer. Events are
 * decided one after the other in stream order (which is each job's order) and a new callback
 * joins its job's line at once, held on its unacknowledged message; the message is acknowledged
 * only once the callback is durable (settled in the log, or waiting in the outbox), so the
 * notifier can be killed at any moment without losing one.
 *
 * On start-up the messages a killed predecessor had received but not acknowledged are read
 * straight from the stream and handled first: otherwise JetStream would redeliver them only
 * after their ack wait, behind newer events of the same jobs.
 */
export async function startEventIntake(deps: EventIntakeDeps): Promise<{ stop(): Promise<void> }> {
  const now = deps.now ?? (() => new Date());
  const js = deps.jsm.jetstream();
  const consumer = await js.consumers.get(JOB_EVENTS_STREAM, Consumer.notifier);
  const pending = new Set<Promise<void>>();
  const track = (work: Promise<void>, seq: number) => {
    const settled = work.then(
      () => undefined,
      // only at shutdown (the store closed first): the message stays unacknowledged, to be redelivered
      (err: unknown) => deps.log.warn({ seq, err: String(err) }, "job event left unacknowledged"),
    );
    pending.add(settled);
    void settled.then(() => pending.delete(settled));
  };
  /** Stream sequences up to this one were delivered before this run started (see start-up recovery). */
  let recoveredUpTo = 0;
  let stopping = false;

  /**
   * Decides about one event. `ack` is how its message is acknowledged; null for an event read
   * straight from the stream at start-up, whose callback is then written to the outbox at once.
   * Resolves once decided; `settled` resolves once the event may be acknowledged (an async
   * function would wait for that promise, so it travels in an object), or is null when the
   * scheduler holds the callback and acknowledges the message itself.
   */
  const handle = async (
    raw: unknown,
    seq: number,
    ack: (() => void) | null,
  ): Promise<{ settled: Promise<void> | null } | "poison"> => {
    const parsed = JobEvent.safeParse(raw);
    if (!parsed.success) return "poison";
    const event = parsed.data;
    const fields = { job_id: event.job_id, event: event.type, seq };
    if (event.type === "completed" || event.type === "failed") await deps.expireTarget(event.job_id);
    // a job's first event (the gateway's `queued`) needs no look-up; later ones may, once
    const entry =
      deps.scheduler.cached(event.job_id) ??
      (event.type === "queued" && seq > recoveredUpTo
        ? deps.scheduler.fresh(event.job_id)
        : await untilDone(
            () => deps.scheduler.load(event.job_id),
            deps.log,
            () => stopping,
          ));

    let callback: Callback | null;
    try {
      callback = callbackFor(event, deps.links);
    } catch (err) {
      if (!(err instanceof CallbackContractError)) throw err;
      deps.log.error({ ...fields, err: err.message }, "no callback: its body would break the contract");
      callback = null;
    }
    const decision = admitEvent(entry.intake, seq, callback);
    if (decision.kind === "skip" || !callback) {
      if (callback && decision.kind === "skip")
        deps.log.debug({ ...fields, reason: decision.reason }, "callback skipped");
      const id = webhookId(event.job_id, seq);
      if (ack && deps.scheduler.isHeld(id)) {
        // a redelivery of a message we still hold: acknowledged with the callback, later
        deps.scheduler.rehold(id, ack);
        return { settled: null };
      }
      // whatever this event's callback became must be durable before its message goes
      return { settled: deps.store.barrier() };
    }
    const doc = newDelivery(callback, seq, decision.status, now());
    if (decision.status === "gone") return { settled: deps.store.logSettled(doc) };
    if (ack) {
      deps.scheduler.admit(entry, doc, ack);
      return { settled: null };
    }
    return { settled: deps.store.open(doc).then(() => deps.scheduler.admit(entry, doc)) };
  };

  // 1. what a killed predecessor left unacknowledged
  const info = await consumer.info();
  recoveredUpTo = info.delivered.stream_seq;
  const recovered: Array<Promise<void>> = [];
  for (let seq = info.ack_floor.stream_seq + 1; seq <= recoveredUpTo; seq++) {
    const stored = await deps.jsm.streams.getMessage(JOB_EVENTS_STREAM, { seq }).catch(() => null);
    if (!stored) continue;
    const done = await handle(parseJson(stored.data), seq, null);
    if (done !== "poison" && done.settled) recovered.push(done.settled);
  }
  // in their lines before any later event of their jobs
  await Promise.all(recovered);
  if (info.delivered.stream_seq > info.ack_floor.stream_seq) {
    deps.log.info(
      { from: info.ack_floor.stream_seq + 1, to: recoveredUpTo },
      "recovered job events left unacknowledged by the previous run",
    );
  }

  // 2. the live stream
  const messages = await consumer.consume({ max_messages: deps.prefetch ?? 256, expires: PULL_EXPIRES_MS });
  const loop = (async () => {
    for await (const msg of messages) {
      const seq = msg.info.streamSequence;
      let done: Awaited<ReturnType<typeof handle>>;
      try {
        done = await handle(parseJson(msg.data), seq, () => msg.ack());
      } catch (err) {
        if (stopping) break;
        // a bug, not an outage: left unacknowledged, the event comes back after its ack wait
        deps.log.error({ subject: msg.subject, seq, err }, "job event not handled");
        continue;
      }
      if (done === "poison") {
        deps.log.error({ subject: msg.subject, seq }, "job event terminated: not a JobEvent");
        msg.term("payload does not match its contract");
        continue;
      }
      if (done.settled) {
        track(
          done.settled.then(() => msg.ack()),
          seq,
        );
      }
    }
  })();

  return {
    async stop() {
      stopping = true;
      await messages.close();
      await loop;
      await Promise.allSettled([...pending]);
    },
  };
}

const utf8 = new TextDecoder();

function parseJson(data: Uint8Array): unknown {
  try {
    return JSON.parse(utf8.decode(data)) as unknown;
  } catch {
    return null;
  }
}

/**
 * Retries a MongoDB read until it succeeds: the events behind it wait, because handling them
 * first would put a job's callbacks out of order.
 */
async function untilDone<T>(read: () => Promise<T>, log: Logger, stopping: () => boolean): Promise<T> {
  for (let failures = 0; ; failures++) {
    try {
      return await read();
    } catch (err) {
      if (stopping()) throw err;
      const backoff = Math.min(5_000, 100 * 2 ** failures);
      log.error({ err: String(err), retry_in_ms: backoff }, "could not read the job's delivery log; retrying");
      await new Promise((resolve) => setTimeout(resolve, backoff));
    }
  }
}
