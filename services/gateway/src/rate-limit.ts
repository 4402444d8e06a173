import type { RequestHandler } from "express";
import { HttpError } from "./http-errors.js";

export type RateDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number };

export interface RateLimiter {
  /** Counts one request of `client` now, unless it is over the limit. */
  take(client: string): RateDecision;
  /** Clients remembered now (for tests and diagnostics). */
  trackedClients(): number;
}

/**
 * At most `limit` requests per client in any `windowMs` (a sliding log of request times). State
 * lives in this process: each gateway replica counts on its own, so N replicas behind a load
 * balancer allow up to N × limit. Clients silent for a whole window are forgotten, in sweeps, so
 * memory follows the clients of the last window only.
 */
export function slidingWindowLimiter(opts: { limit: number; windowMs: number; now: () => number }): RateLimiter {
  const log = new Map<string, number[]>();
  let takesSinceSweep = 0;
  const sweep = (now: number) => {
    for (const [client, times] of log) {
      if ((times[times.length - 1] ?? 0) <= now - opts.windowMs) log.delete(client);
    }
  };
  return {
    take(client) {
      const now = opts.now();
      if (++takesSinceSweep >= 1000) {
        takesSinceSweep = 0;
        sweep(now);
      }
      const times = (log.get(client) ?? []).filter((t) => t > now - opts.windowMs);
      if (times.length >= opts.limit) {
        log.set(client, times);
        const oldest = times[0] ?? now;
        return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((oldest + opts.windowMs - now) / 1000)) };
      }
      times.push(now);
      log.set(client, times);
      return { allowed: true };
    },
    trackedClients: () => log.size,
  };
}

/**
 * Answers 429 RATE_LIMITED with Retry-After once a client (its address, `req.ip`, which honours
 * TRUST_PROXY) is over the limit (PRD 13.3).
 */
export function rateLimit(limiter: RateLimiter): RequestHandler {
  return (req, res, next) => {
    const decision = limiter.take(req.ip ?? req.socket.remoteAddress ?? "unknown");
    if (decision.allowed) return next();
    res.setHeader("Retry-After", String(decision.retryAfterSeconds));
    next(new HttpError(429, "RATE_LIMITED", `Too many requests: try again in ${decision.retryAfterSeconds} seconds`));
  };
}
