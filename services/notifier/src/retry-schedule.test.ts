import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  delayBounds,
  isRetryableStatus,
  nextStep,
  parseRetryAfter,
  retryDelayMs,
  type RetryPolicy,
} from "./retry-schedule.js";

const policy: RetryPolicy = { maxAttempts: 5, baseDelayMs: 1_000, maxDelayMs: 10_000 };
const response = (status: number, retryAfterMs: number | null = null) => ({
  kind: "response" as const,
  status,
  retryAfterMs,
});

describe("retry schedule", () => {
  it("doubles the delay with each attempt up to the ceiling", () => {
    assert.deepEqual(delayBounds(1, policy), { minMs: 500, maxMs: 1_000 });
    assert.deepEqual(delayBounds(2, policy), { minMs: 1_000, maxMs: 2_000 });
    assert.deepEqual(delayBounds(4, policy), { minMs: 4_000, maxMs: 8_000 });
    assert.deepEqual(delayBounds(5, policy), { minMs: 5_000, maxMs: 10_000 });
    assert.deepEqual(delayBounds(30, policy), { minMs: 5_000, maxMs: 10_000 });
  });

  it("keeps jittered delays within their bounds", () => {
    for (let attempt = 1; attempt <= 6; attempt++) {
      const { minMs, maxMs } = delayBounds(attempt, policy);
      assert.equal(
        retryDelayMs(attempt, policy, () => 0),
        minMs,
      );
      assert.equal(
        retryDelayMs(attempt, policy, () => 0.999999),
        maxMs,
      );
      const sampled = retryDelayMs(attempt, policy);
      assert.ok(sampled >= minMs && sampled <= maxMs, `attempt ${attempt}: ${sampled} outside [${minMs}, ${maxMs}]`);
    }
  });

  it("retries 5xx, 408, 429 and network errors; gives up on other answers", () => {
    for (const status of [500, 502, 503, 504, 408, 429])
      assert.ok(isRetryableStatus(status), `${status} should be retried`);
    for (const status of [301, 302, 400, 401, 403, 404, 410, 422])
      assert.ok(!isRetryableStatus(status), `${status} is permanent`);
    assert.equal(nextStep(response(503), 1, policy, () => 0).kind, "retry");
    assert.equal(nextStep({ kind: "network-error", message: "ECONNREFUSED" }, 1, policy).kind, "retry");
    assert.deepEqual(nextStep(response(404), 1, policy), { kind: "give-up", reason: "receiver answered 404" });
    assert.equal(nextStep({ kind: "refused", message: "private address" }, 1, policy).kind, "give-up");
  });

  it("counts any 2xx as delivered", () => {
    for (const status of [200, 201, 202, 204])
      assert.deepEqual(nextStep(response(status), 1, policy), { kind: "delivered" });
  });

  it("gives up after the last attempt", () => {
    assert.equal(nextStep(response(500), policy.maxAttempts - 1, policy).kind, "retry");
    const last = nextStep(response(500), policy.maxAttempts, policy);
    assert.equal(last.kind, "give-up");
    assert.match(last.kind === "give-up" ? last.reason : "", /after 5 attempts/);
  });

  it("waits at least Retry-After, but never past the ceiling", () => {
    const honoured = nextStep(response(429, 7_000), 1, policy, () => 0);
    assert.deepEqual(honoured.kind === "retry" && honoured.afterMs, 7_000);
    const capped = nextStep(response(503, 3_600_000), 1, policy, () => 0);
    assert.deepEqual(capped.kind === "retry" && capped.afterMs, policy.maxDelayMs);
  });

  it("reads Retry-After as seconds or as an HTTP date", () => {
    const now = new Date("2025-01-20T10:00:00Z");
    assert.equal(parseRetryAfter("120", now), 120_000);
    assert.equal(parseRetryAfter("Mon, 20 Jan 2025 10:00:30 GMT", now), 30_000);
    assert.equal(parseRetryAfter(undefined, now), null);
    assert.equal(parseRetryAfter("soon", now), null);
  });
});
