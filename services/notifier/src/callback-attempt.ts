import type { CallbackDelivery, DeliveryAttempt } from "@trainyard/contracts";
import type { Logger } from "@trainyard/runtime";
import type { CallbackTargets } from "./adapters/callback-targets.js";
import type { CallbackSender } from "./adapters/http-callback.js";
import type { LineChanges } from "./job-line.js";
import type { AttemptResult, AttemptVerdict } from "./retry-schedule.js";
import { callbackHeaders } from "./signature.js";

/**
 * One attempt of a callback: its job's target from the callback-targets bucket, the stored
 * body's bytes signed for this attempt (`webhook-timestamp` `at`), one POST. Never throws.
 */
export async function attemptCallback(
  doc: CallbackDelivery,
  at: Date,
  deps: { targets: CallbackTargets; sender: CallbackSender; secretHeader: boolean },
): Promise<AttemptResult> {
  try {
    const lookup = await deps.targets.lookup(doc.job_id);
    if (lookup.kind === "missing") {
      // the gateway stores the target before publishing: retried on the schedule, in case a replica lags
      return {
        kind: "network-error",
        message: "no callback target stored for this job",
        timedOut: false,
        latencyMs: 0,
      };
    }
    if (lookup.kind === "invalid") {
      return { kind: "refused", message: `the stored callback target is unreadable (${lookup.reason})`, latencyMs: 0 };
    }
    const body = Buffer.from(doc.body, "utf8");
    const message = { type: doc.type, jobId: doc.job_id, id: doc._id, body };
    const headers = callbackHeaders(message, lookup.target.secret, at, { secretHeader: deps.secretHeader });
    return await deps.sender.post({ url: lookup.target.url, headers, body });
  } catch (err) {
    // NATS failed while looking the target up
    return {
      kind: "network-error",
      message: `callback target look-up failed: ${String(err)}`,
      timedOut: false,
      latencyMs: 0,
    };
  }
}

/** An attempt as the delivery log records it: never a response body, never a secret. */
export function attemptRecord(attempt: number, at: Date, result: AttemptResult): DeliveryAttempt {
  return {
    attempt,
    at,
    status_code: result.kind === "response" ? result.status : null,
    latency_ms: result.latencyMs,
    error: result.kind === "response" ? null : result.message,
  };
}

/** Logs what an attempt came to (delivered at debug level: it is the common case). */
export function reportAttempt(
  log: Logger,
  doc: CallbackDelivery,
  result: AttemptResult,
  verdict: AttemptVerdict,
  changes: LineChanges,
): void {
  const fields = {
    job_id: doc.job_id,
    callback_id: doc._id,
    callback: doc.type,
    attempt: doc.attempts.length,
    status_code: result.kind === "response" ? result.status : null,
    latency_ms: result.latencyMs,
  };
  const superseded = changes.settled.filter((s) => s.status === "superseded").map((s) => s.id);
  if (superseded.length > 0) log.info({ job_id: doc.job_id, superseded }, "stale progress callbacks superseded");
  switch (verdict.kind) {
    case "delivered":
      log.debug(fields, "callback delivered");
      return;
    case "gone":
      log.warn(fields, "receiver answered 410 Gone: no more callbacks for this job");
      return;
    case "refused":
      log.error({ ...fields, reason: verdict.reason }, "callback dead-lettered: URL refused");
      return;
    case "failed": {
      const next = changes.rescheduled.find((r) => r.id === doc._id);
      if (next) {
        const nextAt = new Date(next.dueAt).toISOString();
        log.warn({ ...fields, reason: verdict.reason, next_attempt_at: nextAt }, "callback failed; will retry");
      } else if (changes.settled.some((s) => s.id === doc._id && s.status === "dead_lettered")) {
        log.error({ ...fields, reason: verdict.reason }, "callback dead-lettered");
      }
      return;
    }
  }
}
