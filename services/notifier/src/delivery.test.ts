import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, it } from "node:test";
import { CallbackHeader } from "@trainyard/contracts";
import { createLogger, type Outcome } from "@trainyard/runtime";
import { Webhook } from "standardwebhooks";
import type { CallbackTargets, TargetLookup } from "./adapters/callback-targets.js";
import type { CallbackRequest, CallbackSender } from "./adapters/http-callback.js";
import { createCallbackDelivery, type CallbackDeliveryDeps } from "./delivery.js";
import type { AttemptResult } from "./retry-schedule.js";
import { assignedEvent, completedEvent, epochEvent, failedEvent, phaseEvent } from "./testing/job-events.js";

const secret = "sk_test_delivery";
const target = { url: "https://app.example.com/webhook-ingest", secret };

/** A receiver stand-in that records requests and answers from a script (then 200). */
function scriptedSender(answers: AttemptResult[] = []): CallbackSender & { sent: CallbackRequest[] } {
  const sent: CallbackRequest[] = [];
  return {
    sent,
    async post(req) {
      sent.push(req);
      return answers.shift() ?? { kind: "response", status: 200, retryAfterMs: null };
    },
    async close() {},
  };
}

function fixedTargets(lookup: TargetLookup = { kind: "found", target }): CallbackTargets & { lookups: number } {
  const targets = {
    lookups: 0,
    async lookup() {
      targets.lookups++;
      return lookup;
    },
  };
  return targets;
}

function deps(overrides: Partial<CallbackDeliveryDeps>): CallbackDeliveryDeps {
  return {
    links: { publicBaseUrl: "https://trainyard.example.com", secret: "download-secret-0123456789", ttlHours: 168 },
    targets: fixedTargets(),
    sender: scriptedSender(),
    retry: { maxAttempts: 3, baseDelayMs: 100, maxDelayMs: 1_000 },
    missingTargetAttempts: 2,
    log: createLogger("notifier-test", "silent"),
    random: () => 0,
    ...overrides,
  };
}

const first = (streamSequence: number) => ({ streamSequence, attempt: 1 });
const ACK: Outcome = { kind: "ack" };

describe("callback delivery", () => {
  it("signs and posts the callback, then acks", async () => {
    const sender = scriptedSender();
    const deliver = createCallbackDelivery(deps({ sender }));
    const jobId = randomUUID();
    assert.deepEqual(await deliver(epochEvent(jobId, 1), first(11)), ACK);
    const [req] = sender.sent;
    assert.ok(req, "one POST expected");
    assert.equal(req.url, target.url);
    assert.equal(req.headers[CallbackHeader.type], "training_progress");
    assert.equal(req.headers[CallbackHeader.webhookId], `${jobId}:11`);
    const body = new Webhook(secret, { format: "raw" }).verify(req.body, req.headers) as { job_id: string };
    assert.equal(body.job_id, jobId);
  });

  it("sends nothing for assigned", async () => {
    const sender = scriptedSender();
    assert.deepEqual(await createCallbackDelivery(deps({ sender }))(assignedEvent(randomUUID()), first(1)), ACK);
    assert.equal(sender.sent.length, 0);
  });

  it("retries a 500 with back-off, keeping the webhook id, and gives up after the last attempt", async () => {
    const failing: AttemptResult = { kind: "response", status: 500, retryAfterMs: null };
    const sender = scriptedSender([failing, failing, failing]);
    const deliver = createCallbackDelivery(deps({ sender }));
    const event = phaseEvent(randomUUID());
    const firstTry = await deliver(event, { streamSequence: 5, attempt: 1 });
    assert.deepEqual(firstTry, { kind: "retry", afterMs: 50, reason: "receiver answered 500" });
    const secondTry = await deliver(event, { streamSequence: 5, attempt: 2 });
    assert.deepEqual(secondTry.kind === "retry" && secondTry.afterMs, 100, "the delay doubles");
    assert.deepEqual(await deliver(event, { streamSequence: 5, attempt: 3 }), ACK, "the last attempt gives up");
    assert.equal(new Set(sender.sent.map((r) => r.headers[CallbackHeader.webhookId])).size, 1);
    assert.equal(new Set(sender.sent.map((r) => r.body)).size, 1, "every attempt sends the same body");
  });

  it("gives up at once on a 4xx", async () => {
    const sender = scriptedSender([{ kind: "response", status: 410, retryAfterMs: null }]);
    assert.deepEqual(await createCallbackDelivery(deps({ sender }))(phaseEvent(randomUUID()), first(1)), ACK);
    assert.equal(sender.sent.length, 1);
  });

  it("never sends a callback after the job's terminal one", async () => {
    const sender = scriptedSender();
    const deliver = createCallbackDelivery(deps({ sender }));
    const jobId = randomUUID();
    const other = randomUUID();
    await deliver(epochEvent(jobId, 1), first(1));
    await deliver(failedEvent(jobId), first(2));
    assert.deepEqual(await deliver(epochEvent(jobId, 2), first(3)), ACK);
    assert.deepEqual(await deliver(completedEvent(jobId), first(4)), ACK);
    await deliver(phaseEvent(other), first(5));
    assert.deepEqual(
      sender.sent.map((r) => [r.headers[CallbackHeader.jobId], r.headers[CallbackHeader.type]]),
      [
        [jobId, "training_progress"],
        [jobId, "training_failed"],
        [other, "training_progress"],
      ],
    );
  });

  it("treats a given-up terminal callback as terminal too", async () => {
    const sender = scriptedSender([{ kind: "response", status: 400, retryAfterMs: null }]);
    const deliver = createCallbackDelivery(deps({ sender }));
    const jobId = randomUUID();
    await deliver(completedEvent(jobId), first(1));
    await deliver(epochEvent(jobId, 2), first(2));
    assert.equal(sender.sent.length, 1);
  });

  it("waits for a missing callback target a few times, then gives up", async () => {
    const sender = scriptedSender();
    const targets = fixedTargets({ kind: "missing" });
    const deliver = createCallbackDelivery(deps({ sender, targets }));
    const event = phaseEvent(randomUUID());
    assert.equal((await deliver(event, { streamSequence: 1, attempt: 1 })).kind, "retry");
    assert.deepEqual(await deliver(event, { streamSequence: 1, attempt: 2 }), ACK);
    assert.equal(targets.lookups, 2);
    assert.equal(sender.sent.length, 0);
  });

  it("drops a callback whose body would break the contract, without posting it", async () => {
    const sender = scriptedSender();
    const links = { publicBaseUrl: "not a url", secret: "download-secret-0123456789", ttlHours: 1 };
    const deliver = createCallbackDelivery(deps({ sender, links }));
    assert.deepEqual(await deliver(completedEvent(randomUUID()), first(1)), ACK);
    assert.equal(sender.sent.length, 0);
  });
});
