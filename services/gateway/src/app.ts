import express from "express";
import { openApiDocument } from "@trainyard/contracts";
import type { Logger, OutboundPolicy } from "@trainyard/runtime";
import type { Bus } from "./adapters/bus.js";
import type { CallbackLog } from "./adapters/callback-log.js";
import type { JobStore } from "./adapters/job-store.js";
import { apiRouter } from "./api-router.js";
import { AUTH_FAILURE_WINDOW_MS, bearerVerifier } from "./auth.js";
import type { CallbackPolicy } from "./callback-policy.js";
import { callbacksRouter } from "./callbacks-router.js";
import { cors } from "./cors.js";
import { downloadRouter } from "./downloads.js";
import type { TrustProxy } from "./env.js";
import { errorHandler, HttpError } from "./http-errors.js";
import { opsRouter } from "./ops-router.js";
import type { QueueSource } from "./queue-reader.js";
import { clientAddress, slidingWindowLimiter } from "./rate-limit.js";

export interface AppDeps {
  store: JobStore;
  bus: Bus;
  /** The scheduler's queue, watched (`watchQueue`): queued jobs' positions and start estimates. */
  queue: QueueSource;
  /** The notifier's callback delivery log, read-only. */
  callbacks: CallbackLog;
  log: Logger;
  /** Valid bearer tokens for /api/* (API_SECRETS). */
  apiTokens: readonly string[];
  downloadSecret: string;
  maxQueuedJobs: number;
  typicalJobSeconds: number;
  version: string;
  maxBodyBytes: number;
  /** POST /api/v1/train per client address and minute; 0: unlimited. */
  rateLimitPerMinute: number;
  /** POST /api/v1/train per API token and minute, whatever the addresses; 0: unlimited. */
  rateLimitPerTokenPerMinute: number;
  /** Failed authentications a client address may make in 5 minutes before it is refused unchecked. */
  authFailuresAllowed: number;
  trustProxy: TrustProxy;
  corsOrigins: readonly string[];
  /** The notifier's outbound policy: a `callback_url` it would refuse is refused at POST /train. */
  callbackPolicy: OutboundPolicy;
  /** Weak callback settings (http://, a short secret) outside local mode: logged, or refused. */
  weakCallbacks: CallbackPolicy;
  healthTimeoutMs: number;
  /** The one clock: timestamps, start estimates and the rate limit's window. */
  now(): Date;
}

/** The gateway's HTTP server. Routes validate, call the domain and map the result; nothing more. */
export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable("x-powered-by");
  app.set("trust proxy", deps.trustProxy);
  app.set("query parser", "simple");

  const authorized = bearerVerifier(deps.apiTokens);
  const perMinute = (limit: number) =>
    limit > 0 ? slidingWindowLimiter({ limit, windowMs: 60_000, now: () => deps.now().getTime() }) : null;
  const trainLimiter = perMinute(deps.rateLimitPerMinute);
  const tokenTrainLimiter = perMinute(deps.rateLimitPerTokenPerMinute);
  // a guessing client is refused without a check once it failed too often
  const authFailures = slidingWindowLimiter({
    limit: deps.authFailuresAllowed,
    windowMs: AUTH_FAILURE_WINDOW_MS,
    now: () => deps.now().getTime(),
  });

  app.use((_req, res, next) => {
    res.setHeader("X-Content-Type-Options", "nosniff");
    next();
  });
  app.use(cors(deps.corsOrigins));
  app.use(opsRouter({ ...deps, openApi: openApiDocument() }));
  app.use(downloadRouter(deps, deps.downloadSecret, deps.log));

  app.use("/api", (req, res, next) => {
    const client = clientAddress(req);
    const blocked = authFailures.check(client);
    if (!blocked.allowed) {
      res.setHeader("Retry-After", String(blocked.retryAfterSeconds));
      return next(new HttpError(429, "RATE_LIMITED", "Too many failed authentications: try again later"));
    }
    if (authorized(req.header("authorization"))) return next();
    authFailures.take(client);
    res.setHeader("WWW-Authenticate", "Bearer");
    next(new HttpError(401, "UNAUTHORIZED", "Invalid API key"));
  });
  app.use("/api", (_req, res, next) => {
    res.setHeader("Cache-Control", "no-store");
    next();
  });
  app.use("/api/v1", apiRouter({ ...deps, trainLimiter, tokenTrainLimiter }));
  app.use("/api/v1", callbacksRouter(deps));

  app.use((_req, _res, next) => next(new HttpError(404, "NOT_FOUND", "Not found")));
  app.use(errorHandler(deps.log));
  return app;
}
