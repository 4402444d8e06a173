import { setTimeout as sleep } from "node:timers/promises";
import type { JetStreamClient } from "@nats-io/jetstream";
import { JobEvent, Subject } from "@trainyard/contracts";

/** How a caller rides out a NATS outage: keep trying a failed call while its failure is transient. */
export interface TransientRetry {
  /** How long, from the first try, a transient failure is tried again; after that it is thrown. */
  forMs: number;
  /** Gives up early (the caller is shutting down): the last failure is thrown at once. */
  signal?: AbortSignal | undefined;
  /** Sees each transient failure that is about to be tried again. */
  onRetry?: ((err: unknown, attempt: number) => void) | undefined;
}

/**
 * Validates and publishes a job event; the id makes a re-publish after a crash a no-op, and so
 * makes a retry safe: with `retry`, a transient failure (a timeout or no responders while a
 * cluster elects a stream leader, a connection being re-established) is tried again.
 */
export async function publishJobEvent(
  js: JetStreamClient,
  event: JobEvent,
  msgId: string,
  retry?: TransientRetry,
): Promise<void> {
  const checked = JobEvent.parse(event);
  await publishJson(js, Subject.jobEvent(checked.job_id, checked.type), checked, msgId, retry);
}

/** Publishes a JSON command, deduplicated by `msgId` within the stream's window; `retry` as `publishJobEvent`. */
export async function publishJson(
  js: JetStreamClient,
  subject: string,
  payload: unknown,
  msgId: string,
  retry?: TransientRetry,
): Promise<void> {
  const data = JSON.stringify(payload);
  const publish = async () => {
    await js.publish(subject, data, { msgID: msgId });
  };
  await (retry ? retryTransient(publish, retry) : publish());
}

/**
 * Runs `work`, trying it again with back-off (0.25 s doubling to 2 s) while it fails with a
 * transient NATS error, for at most `retry.forMs`. Only for work that is safe to repeat: a
 * publish with a message id, a put of a whole object, a read.
 */
export async function retryTransient<T>(work: () => Promise<T>, retry: TransientRetry): Promise<T> {
  const deadline = Date.now() + retry.forMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (err) {
      const wait = Math.min(2_000, 250 * 2 ** (attempt - 1));
      if (!isTransientNatsError(err) || retry.signal?.aborted || Date.now() + wait > deadline) throw err;
      retry.onRetry?.(err, attempt);
      await sleep(wait, undefined, retry.signal ? { signal: retry.signal } : {}).catch(() => {
        throw err; // aborted while waiting
      });
    }
  }
}

/** JetStream API status of a service that is there but cannot answer now (no stream leader, cluster not ready). */
const UNAVAILABLE = 503;

/**
 * Whether a NATS call failed for a reason a later try may not meet: a timeout, no responders (a
 * stream without a leader during an election), or a connection that is closed, draining or being
 * re-established. Never the caller's fault, so never a reason to fail a job. The error's causes
 * are checked too (the JetStream client wraps no responders in `JetStreamNotEnabled`).
 */
export function isTransientNatsError(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    switch (e.name) {
      case "TimeoutError":
      case "NoResponders":
      case "ClosedConnectionError":
      case "DrainingConnectionError":
      case "ConnectionError":
        return true;
      case "JetStreamApiError":
      case "JetStreamStatusError":
        if ((e as Error & { status?: number; code?: number }).status === UNAVAILABLE) return true;
        if ((e as Error & { code?: number }).code === UNAVAILABLE) return true;
        break;
    }
  }
  return false;
}
