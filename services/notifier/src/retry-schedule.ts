/**
 * The retry schedule of a callback: the Standard Webhooks steps by default, configurable (and
 * compressible for tests), with jitter, Retry-After honoured and a dead letter at the end.
 */
import { parseDuration } from "@trainyard/runtime";

/** Durations are parsed as every service parses them. */
export { parseDuration };

/** The Standard Webhooks schedule: delays after the 1st, 2nd, … failed attempt. */
export const STANDARD_WEBHOOKS_SCHEDULE = "5s,5m,30m,2h,5h,10h,14h,20h,24h";

/** A comma-separated list of durations, e.g. `5s,5m,30m`; at least one. */
export function parseSchedule(text: string): number[] {
  const steps = text
    .split(",")
    .map((step) => step.trim())
    .filter((step) => step.length > 0)
    .map(parseDuration);
  if (steps.length === 0) throw new Error("the schedule needs at least one delay");
  return steps;
}

export interface RetryPolicy {
  /**
   * Delay after the 1st, 2nd, … failed attempt. A callback gets `scheduleMs.length + 1`
   * attempts; after the last one fails it is dead-lettered.
   */
  scheduleMs: readonly number[];
  /** Each delay is drawn from ±`jitter` of its step (0.2: 80–120 %), so receivers are not hit in step. */
  jitter: number;
}

/** What one POST came to. */
export type AttemptResult =
  | { kind: "response"; status: number; retryAfterMs: number | null; latencyMs: number }
  | { kind: "network-error"; message: string; timedOut: boolean; latencyMs: number }
  /** The URL is refused by the SSRF guard: asking again cannot change that. */
  | { kind: "refused"; message: string; latencyMs: number };

/** What an attempt means for the callback. */
export type AttemptVerdict =
  | { kind: "delivered" }
  /** 410: the receiver wants no more callbacks for this job. */
  | { kind: "gone" }
  | { kind: "refused"; reason: string }
  | { kind: "failed"; reason: string; retryAfterMs: number | null };

/**
 * 2xx is delivered and 410 is gone; every other answer (3xx: redirects are not followed, 4xx,
 * 5xx) and every network error or timeout is a failure to retry.
 */
export function verdictOf(result: AttemptResult): AttemptVerdict {
  switch (result.kind) {
    case "refused":
      return { kind: "refused", reason: `callback URL refused: ${result.message}` };
    case "network-error":
      return { kind: "failed", reason: result.message, retryAfterMs: null };
    case "response":
      if (result.status >= 200 && result.status < 300) return { kind: "delivered" };
      if (result.status === 410) return { kind: "gone" };
      return { kind: "failed", reason: `receiver answered ${result.status}`, retryAfterMs: result.retryAfterMs };
  }
}

/**
 * The longest a callback can stay in its line, from its first attempt to its dead letter: every
 * delay at the top of its jitter, or a Retry-After at the schedule's longest step, whichever is
 * longer (the time the attempts themselves take aside).
 */
export function longestDeliveryMs(policy: RetryPolicy): number {
  const ceiling = Math.max(...policy.scheduleMs);
  return policy.scheduleMs.reduce((sum, step) => sum + Math.max(Math.round(step * (1 + policy.jitter)), ceiling), 0);
}

/** The range a delay after `failures` failed attempts is drawn from, or null when the schedule is spent. */
export function delayBounds(failures: number, policy: RetryPolicy): { minMs: number; maxMs: number } | null {
  const step = policy.scheduleMs[failures - 1];
  if (step === undefined) return null;
  return { minMs: Math.round(step * (1 - policy.jitter)), maxMs: Math.round(step * (1 + policy.jitter)) };
}

/**
 * The delay before the next attempt after `failures` failed ones (1-based), or null when the
 * callback is to be dead-lettered. A Retry-After answer is honoured when it asks for longer,
 * up to the schedule's longest step, so a receiver cannot park a callback for ever.
 */
export function retryDelayMs(
  failures: number,
  policy: RetryPolicy,
  retryAfterMs: number | null,
  random: () => number = Math.random,
): number | null {
  const bounds = delayBounds(failures, policy);
  if (!bounds) return null;
  const jittered = Math.round(bounds.minMs + random() * (bounds.maxMs - bounds.minMs));
  const ceiling = Math.max(...policy.scheduleMs);
  return Math.max(jittered, Math.min(retryAfterMs ?? 0, ceiling));
}

/** A Retry-After header (seconds or an HTTP date) in milliseconds from `now`, or null when absent or unreadable. */
export function parseRetryAfter(header: string | undefined, now: Date = new Date()): number | null {
  if (!header) return null;
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? null : Math.max(0, at - now.getTime());
}
