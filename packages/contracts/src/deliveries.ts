import { z } from "zod";
import { CallbackType } from "./callbacks.js";

/**
 * MongoDB collection of settled callbacks (delivered, dead-lettered, gone, superseded): the
 * delivery log's history. The notifier only appends to it (an operator's redelivery replaces a
 * document); the gateway reads it.
 */
export const CALLBACK_DELIVERIES_COLLECTION = "callback_deliveries";
/**
 * MongoDB collection of callbacks still to deliver (pending, retrying): the notifier's durable
 * outbox. A callback is written here before its job event is acknowledged and moves to
 * CALLBACK_DELIVERIES_COLLECTION once settled, so this collection stays as small as the backlog.
 * Where both hold a callback (an operator redelivery, or a crash half-way through a move), the
 * higher `revision` is the current one.
 */
export const CALLBACK_OUTBOX_COLLECTION = "callback_outbox";

/**
 * Where a callback stands. `pending`: not tried yet; `retrying`: failed, waiting for its next
 * attempt; `delivered`: a 2xx answer; `dead_lettered`: every attempt of the schedule failed, or the
 * URL is refused; `gone`: the receiver answered 410 to this or an earlier callback of the job;
 * `superseded`: a stale progress callback folded into a newer one while the receiver was failing.
 */
export const DeliveryStatus = z.enum(["pending", "retrying", "delivered", "dead_lettered", "gone", "superseded"]);
export type DeliveryStatus = z.infer<typeof DeliveryStatus>;

/** Statuses of callbacks that still wait for an attempt (the outbox's). */
export const OPEN_DELIVERY_STATUSES: readonly DeliveryStatus[] = ["pending", "retrying"];

/** One HTTP attempt of a callback. */
export const DeliveryAttempt = z.object({
  attempt: z.int().min(1),
  at: z.date(),
  status_code: z.int().nullable(),
  latency_ms: z.number().min(0).nullable(),
  /** Network error or a short reason; never the response body, never a secret. */
  error: z.string().nullable(),
});
export type DeliveryAttempt = z.infer<typeof DeliveryAttempt>;

/**
 * A callback's id and `webhook-id` header: `<job_id>:<stream sequence of its job event>`. The
 * receiver's idempotency key, the same for every attempt and redelivery.
 */
export const CallbackId = z
  .string()
  .regex(
    /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}:[1-9]\d{0,15}$/i,
    "must be a callback id: <job_id>:<sequence>",
  );
export type CallbackId = z.infer<typeof CallbackId>;

/** One callback in the delivery log (either collection). `_id` is its `webhook-id`. */
export const CallbackDelivery = z.object({
  _id: CallbackId,
  job_id: z.uuid(),
  /** Stream sequence of the job event: the callback's place in its job's order. */
  seq: z.int().min(1),
  type: CallbackType,
  status: DeliveryStatus,
  /** The exact bytes POSTed and signed, computed once: every attempt sends them unchanged. */
  body: z.string(),
  attempts: z.array(DeliveryAttempt),
  /**
   * Failed attempts counted against the retry schedule, those of the callbacks it superseded
   * included; an operator redelivery starts it again from 0.
   */
  failures: z.int().min(0),
  /** Why it stopped or waits where it is (superseded by …, 410 from …, redelivery …); null otherwise. */
  reason: z.string().nullable(),
  /** Incremented by every write; where both collections hold the callback, the higher one wins. */
  revision: z.int().min(1),
  /** When an operator last asked for it again; a redelivered callback is never superseded. */
  redelivered_at: z.date().nullable(),
  created_at: z.date(),
  updated_at: z.date(),
  next_attempt_at: z.date().nullable(),
});
export type CallbackDelivery = z.infer<typeof CallbackDelivery>;

/**
 * One document per callback out of both collections: the higher revision where both hold it
 * (see CALLBACK_OUTBOX_COLLECTION), in job order.
 */
export function latestRevisions(docs: readonly CallbackDelivery[]): CallbackDelivery[] {
  const byId = new Map<string, CallbackDelivery>();
  for (const doc of docs) {
    const other = byId.get(doc._id);
    if (!other || doc.revision > other.revision) byId.set(doc._id, doc);
  }
  return [...byId.values()].sort((a, b) => a.seq - b.seq);
}

/** `train.callbacks.redeliver`: an operator asks for a logged callback to be sent again. */
export const RedeliveryRequest = z.object({
  job_id: z.uuid(),
  callback_id: CallbackId,
  requested_at: z.iso.datetime(),
});
export type RedeliveryRequest = z.infer<typeof RedeliveryRequest>;

// REST views (gateway). They live here rather than in rest.ts, which callbacks.ts imports.

/** One attempt as `GET /api/v1/jobs/{job_id}/callbacks` shows it. */
export const CallbackAttemptView = z.object({
  attempt: z.int().min(1),
  at: z.iso.datetime(),
  status_code: z.int().nullable(),
  latency_ms: z.number().min(0).nullable(),
  error: z.string().nullable(),
});
export type CallbackAttemptView = z.infer<typeof CallbackAttemptView>;

/** One callback of a job with every attempt made so far. */
export const CallbackDeliveryView = z.object({
  /** The `webhook-id` header the receiver saw. */
  callback_id: CallbackId,
  job_id: z.uuid(),
  type: CallbackType,
  status: DeliveryStatus,
  created_at: z.iso.datetime(),
  updated_at: z.iso.datetime(),
  /** When the next attempt is due; null once settled. */
  next_attempt_at: z.iso.datetime().nullable(),
  /** When an operator last asked for it again. */
  redelivered_at: z.iso.datetime().nullable(),
  reason: z.string().nullable(),
  attempts: z.array(CallbackAttemptView),
  /** The JSON body exactly as sent (the signed bytes). */
  body: z.string(),
});
export type CallbackDeliveryView = z.infer<typeof CallbackDeliveryView>;

/** `GET /api/v1/jobs/{job_id}/callbacks` query: a page of the job's callbacks, oldest first. */
export const CallbackListQuery = z.object({
  status: DeliveryStatus.optional(),
  limit: z.int().min(1).max(100).default(50),
  offset: z.int().min(0).max(1_000_000).default(0),
});
export type CallbackListQuery = z.infer<typeof CallbackListQuery>;

/** `GET /api/v1/jobs/{job_id}/callbacks` answer: how many match, and one page of them in job order. */
export const CallbackDeliveryList = z.object({
  job_id: z.uuid(),
  total: z.int().min(0),
  callbacks: z.array(CallbackDeliveryView),
});
export type CallbackDeliveryList = z.infer<typeof CallbackDeliveryList>;

/** `202` answer to `POST /api/v1/jobs/{job_id}/callbacks/{callback_id}/redeliver`. */
export const RedeliveryAccepted = z.object({
  job_id: z.uuid(),
  callback_id: CallbackId,
  status: z.literal("redelivery_requested"),
  requested_at: z.iso.datetime(),
});
export type RedeliveryAccepted = z.infer<typeof RedeliveryAccepted>;
