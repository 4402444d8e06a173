import type { CallbackDelivery, CallbackDeliveryView } from "@trainyard/contracts";

/** A logged callback as `GET /api/v1/jobs/{job_id}/callbacks` shows it. */
export function toCallbackDeliveryView(doc: CallbackDelivery): CallbackDeliveryView {
  return {
    callback_id: doc._id,
    job_id: doc.job_id,
    type: doc.type,
    status: doc.status,
    created_at: doc.created_at.toISOString(),
    updated_at: doc.updated_at.toISOString(),
    next_attempt_at: doc.next_attempt_at?.toISOString() ?? null,
    redelivered_at: doc.redelivered_at?.toISOString() ?? null,
    reason: doc.reason,
    attempts: doc.attempts.map((a) => ({
      attempt: a.attempt,
      at: a.at.toISOString(),
      status_code: a.status_code,
      latency_ms: a.latency_ms,
      error: a.error,
    })),
    body: doc.body,
  };
}
