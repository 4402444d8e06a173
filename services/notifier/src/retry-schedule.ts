/** How often and how patiently one callback is retried. */
export interface RetryPolicy {
  /** Attempts in all, the first included; after the last one the callback is given up. */
  maxAttempts: number;
  /** Delay after the first failed attempt, before jitter; it doubles with every attempt. */
  baseDelayMs: number;
  /** Ceiling of any one delay, Retry-After included. */
  maxDelayMs: number;
}

/** 1 s, 2 s, 4 s … capped at 5 min: eight attempts ride out one to two minutes of receiver outage. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxAttempts: 8, baseDelayMs: 1_000, maxDelayMs: 5 * 60_000 };

/** What one POST came to, as far as retrying is concerned. */
export type AttemptResult =
  | { kind: "response"; status: number; retryAfterMs: number | null }
  | { kind: "network-error"; message: string }
  /** The URL is refused by the SSRF guard; asking again cannot change that. */
  | { kind: "refused"; message: string };

export type NextStep =
  { kind: "delivered" } | { kind: "retry"; afterMs: number; reason: string } | { kind: "give-up"; reason: string };

/** 5xx, 408 and 429 may succeed later; other non-2xx answers (3xx included: redirects are not followed) will not. */
export function isRetryableStatus(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}

/** The jitter range of the delay after failed attempt `attempt` (1-based): half to all of the exponential step. */
export function delayBounds(attempt: number, policy: RetryPolicy): { minMs: number; maxMs: number } {
  const step = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  return { minMs: Math.ceil(step / 2), maxMs: step };
}

/** A delay within `delayBounds`; jitter keeps many notifiers from retrying a recovering receiver in step. */
export function retryDelayMs(attempt: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const { minMs, maxMs } = delayBounds(attempt, policy);
  return Math.round(minMs + random() * (maxMs - minMs));
}

/** Decides what follows attempt `attempt` (1-based) that ended in `result`. */
export function nextStep(
  result: AttemptResult,
  attempt: number,
  policy: RetryPolicy,
  random: () => number = Math.random,
): NextStep {
  let reason: string;
  let retryAfterMs: number | null = null;
  switch (result.kind) {
    case "refused":
      return { kind: "give-up", reason: `callback URL refused: ${result.message}` };
    case "network-error":
      reason = `network error: ${result.message}`;
      break;
    case "response":
      if (result.status >= 200 && result.status < 300) return { kind: "delivered" };
      if (!isRetryableStatus(result.status)) return { kind: "give-up", reason: `receiver answered ${result.status}` };
      reason = `receiver answered ${result.status}`;
      retryAfterMs = result.retryAfterMs;
      break;
  }
  if (attempt >= policy.maxAttempts) return { kind: "give-up", reason: `${reason} after ${attempt} attempts` };
  const jittered = retryDelayMs(attempt, policy, random);
  const afterMs = Math.min(policy.maxDelayMs, Math.max(jittered, retryAfterMs ?? 0));
  return { kind: "retry", afterMs, reason };
}

/** A Retry-After header (seconds or an HTTP date) in milliseconds from `now`, or null when absent or unreadable. */
export function parseRetryAfter(header: string | undefined, now: Date = new Date()): number | null {
  if (!header) return null;
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? null : Math.max(0, at - now.getTime());
}
