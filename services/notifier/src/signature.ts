import { createHmac } from "node:crypto";
import { CallbackHeader, type CallbackType } from "@trainyard/contracts";

/**
 * The Standard Webhooks message id of the callback for one job event. The JetStream stream
 * sequence does not change when the event is redelivered, so every retry carries the same id
 * and a receiver can drop duplicates.
 */
export function webhookId(jobId: string, streamSequence: number): string {
  return `${jobId}:${streamSequence}`;
}

/**
 * `v1,<base64 HMAC-SHA256>` over `${id}.${timestamp}.${body}` (Standard Webhooks), keyed with
 * the UTF-8 bytes of the job's `callback_secret` (PRD 17.6).
 */
export function webhookSignature(secret: string, id: string, sentAt: Date, body: string): string {
  const mac = createHmac("sha256", Buffer.from(secret, "utf8"))
    .update(`${id}.${unixSeconds(sentAt)}.${body}`)
    .digest("base64");
  return `v1,${mac}`;
}

export interface CallbackMessage {
  type: CallbackType;
  jobId: string;
  /** From `webhookId`: the same for every attempt of one event. */
  id: string;
  /** The exact bytes that are POSTed and signed. */
  body: string;
}

/** Every header of one callback attempt: the PRD's (4.2) and the Standard Webhooks signature. */
export function callbackHeaders(message: CallbackMessage, secret: string, sentAt: Date): Record<string, string> {
  return {
    "Content-Type": "application/json",
    [CallbackHeader.secret]: secret,
    [CallbackHeader.jobId]: message.jobId,
    [CallbackHeader.type]: message.type,
    [CallbackHeader.webhookId]: message.id,
    [CallbackHeader.webhookTimestamp]: String(unixSeconds(sentAt)),
    [CallbackHeader.webhookSignature]: webhookSignature(secret, message.id, sentAt, message.body),
  };
}

function unixSeconds(at: Date): number {
  return Math.floor(at.getTime() / 1000);
}
