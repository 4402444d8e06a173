import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, it } from "node:test";
import { CallbackHeader } from "@trainyard/contracts";
import { Webhook } from "standardwebhooks";
import { callbackHeaders, webhookId, webhookSignature } from "./signature.js";

const jobId = randomUUID();
const body = JSON.stringify({ type: "training_progress", job_id: jobId, progress: { percentage: 45 } });
const secret = "sk_live_abc123xyz789";

/** The headers a receiver would pass to `Webhook.verify`. */
function signatureHeaders(headers: Record<string, string>): Record<string, string> {
  const pick = (name: string) => {
    const value = headers[name];
    assert.ok(value, `header ${name} should be set`);
    return value;
  };
  return {
    "webhook-id": pick(CallbackHeader.webhookId),
    "webhook-timestamp": pick(CallbackHeader.webhookTimestamp),
    "webhook-signature": pick(CallbackHeader.webhookSignature),
  };
}

describe("callback signature", () => {
  it("is verified by the standardwebhooks package with the raw callback secret", () => {
    const headers = callbackHeaders(
      { type: "training_progress", jobId, id: webhookId(jobId, 7), body },
      secret,
      new Date(),
    );
    const verified = new Webhook(secret, { format: "raw" }).verify(body, signatureHeaders(headers));
    assert.deepEqual(verified, JSON.parse(body));
  });

  it("is rejected for a changed body, another secret or another id", () => {
    const sentAt = new Date();
    const headers = signatureHeaders(
      callbackHeaders({ type: "training_progress", jobId, id: webhookId(jobId, 7), body }, secret, sentAt),
    );
    const receiver = new Webhook(secret, { format: "raw" });
    assert.throws(() => receiver.verify(body.replace("45", "46"), headers), /signature/i);
    assert.throws(() => new Webhook("sk_live_other", { format: "raw" }).verify(body, headers), /signature/i);
    assert.throws(() => receiver.verify(body, { ...headers, "webhook-id": webhookId(jobId, 8) }), /signature/i);
  });

  it("keys the HMAC with the secret's UTF-8 bytes", () => {
    const unicodeSecret = "sëgrédo-🔑";
    const sentAt = new Date();
    const signature = webhookSignature(unicodeSecret, "msg", sentAt, body);
    const receiver = new Webhook(new TextEncoder().encode(unicodeSecret), { format: "raw" });
    assert.equal(receiver.sign("msg", sentAt, body), signature);
  });

  it("signs the bytes sent: a body given as bytes or as text signs the same", () => {
    const sentAt = new Date();
    const unicode = JSON.stringify({ classes: ["poste", "transformação", "電線"] });
    assert.equal(
      webhookSignature(secret, "msg", sentAt, Buffer.from(unicode, "utf8")),
      webhookSignature(secret, "msg", sentAt, unicode),
    );
    const receiver = new Webhook(secret, { format: "raw" });
    assert.equal(receiver.sign("msg", sentAt, unicode), webhookSignature(secret, "msg", sentAt, Buffer.from(unicode)));
  });

  it("carries the PRD headers", () => {
    const sentAt = new Date("2025-01-20T10:35:42Z");
    const headers = callbackHeaders({ type: "training_completed", jobId, id: "the-id", body }, secret, sentAt);
    assert.equal(headers["Content-Type"], "application/json");
    assert.equal(headers[CallbackHeader.secret], secret);
    assert.equal(headers[CallbackHeader.jobId], jobId);
    assert.equal(headers[CallbackHeader.type], "training_completed");
    assert.equal(headers[CallbackHeader.webhookId], "the-id");
    assert.equal(headers[CallbackHeader.webhookTimestamp], String(Date.parse("2025-01-20T10:35:42Z") / 1000));
  });

  it("CALLBACK_SECRET_HEADER=false leaves the secret out of the headers; the signature still verifies", () => {
    const sentAt = new Date();
    const message = { type: "training_completed" as const, jobId, id: "the-id", body };
    const headers = callbackHeaders(message, secret, sentAt, { secretHeader: false });
    assert.ok(!(CallbackHeader.secret in headers), "no X-Callback-Secret");
    assert.ok(!Object.values(headers).includes(secret), "the secret is in no header");
    assert.ok(new Webhook(secret, { format: "raw" }).verify(body, signatureHeaders(headers)));
  });

  it("uses an id that names the job and the event's stream position", () => {
    assert.equal(webhookId(jobId, 42), webhookId(jobId, 42), "a redelivered event keeps its id");
    assert.notEqual(webhookId(jobId, 42), webhookId(jobId, 43));
  });
});
