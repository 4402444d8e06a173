import type { Callback, JobEvent } from "@trainyard/contracts";
import { ack, retryLater, type Logger, type Outcome } from "@trainyard/runtime";
import type { CallbackSender } from "./adapters/http-callback.js";
import type { CallbackTargets } from "./adapters/callback-targets.js";
import { callbackFor, CallbackContractError, type DownloadLinks } from "./callback-mapping.js";
import { FinishedJobs } from "./finished-jobs.js";
import { nextStep, retryDelayMs, type RetryPolicy } from "./retry-schedule.js";
import { callbackHeaders, webhookId } from "./signature.js";

export interface CallbackDeliveryDeps {
  links: DownloadLinks;
  targets: CallbackTargets;
  sender: CallbackSender;
  retry: RetryPolicy;
  /** Lookups of a missing callback target before its callbacks are given up. */
  missingTargetAttempts: number;
  log: Logger;
  now?: () => Date;
  random?: () => number;
  finishedJobs?: FinishedJobs;
}

/** Where this event sits in the stream and how often it has been tried. */
export interface EventDelivery {
  streamSequence: number;
  /** 1 on the first attempt; JetStream counts redeliveries, so this survives restarts. */
  attempt: number;
}

export type CallbackDelivery = (event: JobEvent, delivery: EventDelivery) => Promise<Outcome>;

const isTerminal = (event: JobEvent) => event.type === "completed" || event.type === "failed";

/**
 * Turns each job event into at most one delivered callback.
 *
 * Invariant: no callback is sent after a job's terminal one. Events arrive in stream order
 * (the consumer has max_ack_pending = 1), so nothing later is seen before the terminal event is
 * acked; `finishedJobs` then drops whatever a slow producer publishes after it (a late epoch
 * after a cancel, say). Caveat: the set lives in memory, so a notifier restarted between a
 * terminal event and a late one would still send the late one.
 */
export function createCallbackDelivery(deps: CallbackDeliveryDeps): CallbackDelivery {
  const finished = deps.finishedJobs ?? new FinishedJobs();
  return async (event, delivery) => {
    const outcome = await deliver(event, delivery, deps, finished);
    // once the terminal event is settled (delivered or given up) the job takes no more callbacks
    if (outcome.kind === "ack" && isTerminal(event)) finished.add(event.job_id);
    return outcome;
  };
}

async function deliver(
  event: JobEvent,
  delivery: EventDelivery,
  deps: CallbackDeliveryDeps,
  finished: FinishedJobs,
): Promise<Outcome> {
  const log = deps.log.child({
    job_id: event.job_id,
    event: event.type,
    seq: delivery.streamSequence,
    attempt: delivery.attempt,
  });
  if (finished.has(event.job_id)) {
    log.warn("event after the job's terminal callback; not sent");
    return ack;
  }

  let callback: Callback | null;
  try {
    callback = callbackFor(event, deps.links);
  } catch (err) {
    if (!(err instanceof CallbackContractError)) throw err;
    // Deterministic: retrying would stall every job's callbacks behind this one for nothing.
    log.error({ err: err.message }, "callback not sent: its body violates the contract");
    return ack;
  }
  if (!callback) return ack;

  const found = await deps.targets.lookup(event.job_id);
  if (found.kind === "invalid") {
    log.error({ reason: found.reason }, "callback not sent: the callback target is unreadable");
    return ack;
  }
  if (found.kind === "missing") {
    // the gateway stores the target before publishing, so a missing one is lost data, not a race
    if (delivery.attempt < deps.missingTargetAttempts) {
      return retryLater(retryDelayMs(delivery.attempt, deps.retry, deps.random), "callback target not found yet");
    }
    log.error("callback not sent: no callback target stored for this job");
    return ack;
  }

  const { target } = found;
  const body = JSON.stringify(callback);
  const id = webhookId(event.job_id, delivery.streamSequence);
  const sentAt = deps.now?.() ?? new Date();
  const headers = callbackHeaders({ type: callback.type, jobId: event.job_id, id, body }, target.secret, sentAt);
  const result = await deps.sender.post({ url: target.url, headers, body });

  const step = nextStep(result, delivery.attempt, deps.retry, deps.random);
  const where = { callback: callback.type, target: new URL(target.url).origin };
  switch (step.kind) {
    case "delivered":
      log.info(where, "callback delivered");
      return ack;
    case "retry":
      log.warn({ ...where, reason: step.reason, after_ms: step.afterMs }, "callback failed; will retry");
      return retryLater(step.afterMs, step.reason);
    case "give-up":
      log.error({ ...where, reason: step.reason }, "callback given up");
      return ack;
  }
}
