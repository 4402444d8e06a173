import type { Request, RequestHandler } from "express";
import { HttpError } from "./http-errors.js";

export type RateDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number };

export interface RateLimiter {
  /** Counts one request of `client` now, unless it is over the limit. */
  take(client: string): RateDecision;
  /** Whether `client` is over the limit now, counting nothing. */
  check(client: string): RateDecision;
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
  const decide = (client: string, count: boolean): RateDecision => {
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
    if (count) times.push(now);
    if (times.length > 0) log.set(client, times);
    else log.delete(client);
    return { allowed: true };
  };
  return {
    take: (client) => decide(client, true),
    check: (client) => decide(client, false),
    trackedClients: () => log.size,
  };
}

/** A request's client address, `req.ip`, which honours TRUST_PROXY. */
export const clientAddress = (req: Request) => req.ip ?? req.socket.remoteAddress ?? "unknown";

/**
 * Answers 429 RATE_LIMITED with Retry-After once a client is over the limit (PRD 13.3): by default
 * its address; `clientOf` may count by something else (the API token).
 */
export function rateLimit(limiter: RateLimiter, clientOf: (req: Request) => string = clientAddress): RequestHandler {
  return (req, res, next) => {
    const decision = limiter.take(clientOf(req));
    if (decision.allowed) return next();
    res.setHeader("Retry-After", String(decision.retryAfterSeconds));
    next(new HttpError(429, "RATE_LIMITED", `Too many requests: try again in ${decision.retryAfterSeconds} seconds`));
  };
}
