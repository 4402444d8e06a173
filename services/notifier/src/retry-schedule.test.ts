import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  delayBounds,
  longestDeliveryMs,
  parseDuration,
  parseRetryAfter,
  parseSchedule,
  retryDelayMs,
  STANDARD_WEBHOOKS_SCHEDULE,
  verdictOf,
  type AttemptResult,
  type RetryPolicy,
} from "./retry-schedule.js";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const policy: RetryPolicy = { scheduleMs: parseSchedule(STANDARD_WEBHOOKS_SCHEDULE), jitter: 0.2 };
const response = (status: number, retryAfterMs: number | null = null): AttemptResult => ({
  kind: "response",
  status,
  retryAfterMs,
  latencyMs: 3,
});

describe("retry schedule", () => {
  it("is Standard Webhooks' by default: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h", () => {
    assert.deepEqual(policy.scheduleMs, [
      5_000,
      5 * MINUTE,
      30 * MINUTE,
      2 * HOUR,
      5 * HOUR,
      10 * HOUR,
      14 * HOUR,
      20 * HOUR,
      24 * HOUR,
    ]);
  });

  it("reads durations in ms, s, m, h and d, and bare milliseconds", () => {
    assert.equal(parseDuration("250ms"), 250);
    assert.equal(parseDuration("1.5s"), 1_500);
    assert.equal(parseDuration(" 2h "), 2 * HOUR);
    assert.equal(parseDuration("1d"), 24 * HOUR);
    assert.equal(parseDuration("40"), 40);
    assert.deepEqual(parseSchedule("50ms, 100ms,,200ms"), [50, 100, 200]);
    assert.throws(() => parseDuration("5 minutes"), /not a duration/);
    assert.throws(() => parseDuration("-5s"), /not a duration/);
    assert.throws(() => parseSchedule(" , "), /at least one/);
  });

  it("bounds a callback's whole delivery: each delay at its jitter's top or a Retry-After held to 24 h", () => {
    // eight delays held at 24 h by Retry-After, the last at 24 h + 20 %
    assert.equal(longestDeliveryMs(policy), 8 * 24 * HOUR + 28.8 * HOUR);
    assert.equal(longestDeliveryMs({ scheduleMs: [100, 300], jitter: 0.5 }), 300 + 450);
    let worst = 0;
    for (let failures = 1; failures <= 9; failures++) worst += retryDelayMs(failures, policy, 24 * HOUR, () => 1)!;
    assert.equal(worst, longestDeliveryMs(policy), "the bound is reached by the longest delays retryDelayMs draws");
  });

  it("draws each delay within ±jitter of its step, and ends the schedule with a dead letter", () => {
    assert.deepEqual(delayBounds(1, policy), { minMs: 4_000, maxMs: 6_000 });
    assert.deepEqual(delayBounds(9, policy), { minMs: 19.2 * HOUR, maxMs: 28.8 * HOUR });
    assert.equal(delayBounds(10, policy), null, "nine delays: the tenth failed attempt is the last");
    for (let failures = 1; failures <= 9; failures++) {
      const { minMs, maxMs } = delayBounds(failures, policy)!;
      assert.equal(
        retryDelayMs(failures, policy, null, () => 0),
        minMs,
      );
      assert.equal(
        retryDelayMs(failures, policy, null, () => 1),
        maxMs,
      );
      const sampled = retryDelayMs(failures, policy, null)!;
      assert.ok(sampled >= minMs && sampled <= maxMs, `after ${failures}: ${sampled} outside [${minMs}, ${maxMs}]`);
    }
    assert.equal(retryDelayMs(10, policy, null), null);
    assert.equal(retryDelayMs(1, { scheduleMs: [100], jitter: 0 }, null), 100, "no jitter: the step itself");
  });

  it("waits at least Retry-After, but never longer than the schedule's longest step", () => {
    assert.equal(
      retryDelayMs(1, policy, 60_000, () => 0),
      60_000,
    );
    assert.equal(
      retryDelayMs(1, policy, 1_000, () => 0),
      4_000,
      "a shorter Retry-After does not hurry the schedule",
    );
    assert.equal(
      retryDelayMs(1, policy, 7 * 24 * HOUR, () => 0),
      24 * HOUR,
    );
  });

  it("counts 2xx as delivered, 410 as gone, every other answer, error and timeout as a failure", () => {
    for (const status of [200, 201, 202, 204, 299])
      assert.deepEqual(verdictOf(response(status)), { kind: "delivered" });
    assert.deepEqual(verdictOf(response(410)), { kind: "gone" });
    for (const status of [301, 302, 307, 400, 401, 403, 404, 408, 422, 429, 500, 502, 503, 504]) {
      const verdict = verdictOf(response(status, 2_000));
      assert.equal(verdict.kind, "failed", `${status} should be retried`);
      assert.equal(verdict.kind === "failed" && verdict.retryAfterMs, 2_000);
    }
    const timeout = verdictOf({
      kind: "network-error",
      message: "no answer within 15000 ms",
      timedOut: true,
      latencyMs: 15_000,
    });
    assert.deepEqual(timeout, { kind: "failed", reason: "no answer within 15000 ms", retryAfterMs: null });
    const refused = verdictOf({ kind: "refused", message: "address 10.0.0.1 is private", latencyMs: 0 });
    assert.equal(refused.kind, "refused");
  });

  it("reads Retry-After as seconds or as an HTTP date", () => {
    const now = new Date("2025-01-20T10:00:00Z");
    assert.equal(parseRetryAfter("120", now), 120_000);
    assert.equal(parseRetryAfter("Mon, 20 Jan 2025 10:00:30 GMT", now), 30_000);
    assert.equal(parseRetryAfter(undefined, now), null);
    assert.equal(parseRetryAfter("soon", now), null);
  });
});
