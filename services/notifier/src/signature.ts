import { createHmac } from "node:crypto";
import { CallbackHeader, type CallbackType } from "@trainyard/contracts";

/**
 * The Standard Webhooks message id of the callback for one job event: the job and the event's
 * JetStream stream sequence, which a redelivery does not change. Every attempt and every
 * redelivery of the callback carries it, so a receiver can drop duplicates.
 */
export function webhookId(jobId: string, streamSequence: number): string {
  return `${jobId}:${streamSequence}`;
}

/**
 * `v1,<base64 HMAC-SHA256>` over `${id}.${timestamp}.` followed by the body's bytes (Standard
 * Webhooks), keyed with the UTF-8 bytes of the job's `callback_secret` (PRD 17.6).
 */
export function webhookSignature(secret: string, id: string, sentAt: Date, body: string | Uint8Array): string {
  const mac = createHmac("sha256", Buffer.from(secret, "utf8"))
    .update(`${id}.${unixSeconds(sentAt)}.`)
    .update(body)
    .digest("base64");
  return `v1,${mac}`;
}

export interface CallbackMessage {
  type: CallbackType;
  jobId: string;
  /** From `webhookId`: the same for every attempt of one callback. */
  id: string;
  /** The exact bytes that are POSTed, and signed. */
  body: string | Uint8Array;
}

/**
 * Every header of one callback attempt: the PRD's (4.2) and the Standard Webhooks ones. Each
 * attempt gets a new timestamp and so a new signature; the id and the body stay the same. The
 * PRD's `X-Callback-Secret` (the secret itself, in every request) is sent unless `secretHeader`
 * is false (CALLBACK_SECRET_HEADER), for apps that verify the signature instead.
 */
export function callbackHeaders(
  message: CallbackMessage,
  secret: string,
  sentAt: Date,
  { secretHeader = true }: { secretHeader?: boolean } = {},
): Record<string, string> {
  return {
    "Content-Type": "application/json",
    ...(secretHeader ? { [CallbackHeader.secret]: secret } : {}),
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
