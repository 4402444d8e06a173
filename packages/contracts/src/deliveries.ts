import { z } from "zod";
import { CallbackType } from "./callbacks.js";

/** MongoDB collection of the callback delivery log; the notifier owns it, the gateway and dashboard read it. */
export const CALLBACK_DELIVERIES_COLLECTION = "callback_deliveries";

/** Where a callback stands. `dead_lettered`: every attempt failed; `gone`: the receiver answered 410. */
export const DeliveryStatus = z.enum(["pending", "retrying", "delivered", "dead_lettered", "gone", "superseded"]);
export type DeliveryStatus = z.infer<typeof DeliveryStatus>;

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
 * One callback in the delivery log. `_id` is the callback's `webhook-id`, the receiver's
 * idempotency key, stable across attempts and redeliveries.
 */
export const CallbackDelivery = z.object({
  _id: z.string(),
  job_id: z.uuid(),
  type: CallbackType,
  status: DeliveryStatus,
  attempts: z.array(DeliveryAttempt),
  created_at: z.date(),
  updated_at: z.date(),
  next_attempt_at: z.date().nullable(),
});
export type CallbackDelivery = z.infer<typeof CallbackDelivery>;

/** `callbacks.redeliver`: an operator asks for a dead-lettered (or any) callback to be sent again. */
export const RedeliveryRequest = z.object({
  job_id: z.uuid(),
  callback_id: z.string(),
  requested_at: z.iso.datetime(),
});
export type RedeliveryRequest = z.infer<typeof RedeliveryRequest>;
