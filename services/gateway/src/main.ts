import {
  connectNats,
  createHttpServer,
  ensureStreams,
  listenOn,
  natsAuth,
  outboundPolicyOf,
  runService,
  watchQueue,
} from "@trainyard/runtime";
import { openBus } from "./adapters/bus.js";
import { connectCallbackLog } from "./adapters/callback-log.js";
import { connectJobStore } from "./adapters/job-store.js";
import { createApp } from "./app.js";
import { AUTH_FAILURES_ALLOWED } from "./auth.js";
import { Env } from "./env.js";

await runService("gateway", Env, async (env, log) => {
  const nc = await connectNats(env.NATS_URL, "gateway", natsAuth(env, "gateway"));
  await ensureStreams(nc);
  const timeouts = { timeoutMs: env.DEPENDENCY_TIMEOUT_MS };
  const [bus, store, callbacks, queue] = await Promise.all([
    openBus(nc, timeouts),
    connectJobStore(env.MONGO_URL, timeouts),
    connectCallbackLog(env.MONGO_URL, timeouts),
    watchQueue(nc),
  ]);
  const app = createApp({
    store,
    bus,
    queue,
    callbacks,
    log,
    apiTokens: env.apiTokens,
    downloadSecret: env.DOWNLOAD_URL_SECRET,
    maxQueuedJobs: env.MAX_QUEUED_JOBS,
    typicalJobSeconds: env.ESTIMATED_JOB_SECONDS,
    version: env.TRAINYARD_VERSION,
    maxBodyBytes: env.MAX_BODY_BYTES,
    rateLimitPerMinute: env.RATE_LIMIT_PER_MINUTE,
    rateLimitPerTokenPerMinute: env.RATE_LIMIT_PER_TOKEN_PER_MINUTE,
    authFailuresAllowed: AUTH_FAILURES_ALLOWED,
    trustProxy: env.TRUST_PROXY,
    corsOrigins: env.CORS_ORIGINS,
    callbackPolicy: outboundPolicyOf(env),
    weakCallbacks: env.CALLBACK_POLICY,
    healthTimeoutMs: env.HEALTH_TIMEOUT_MS,
    now: () => new Date(),
  });
  // bounded: headers within 10 s, a request within 60 s, at most 1 024 connections
  const server = createHttpServer(app);
  await listenOn(server, env.GATEWAY_HOST, env.GATEWAY_PORT);
  log.info(
    {
      url: `http://${env.GATEWAY_HOST}:${env.GATEWAY_PORT}`,
      tokens: env.apiTokens.length,
      rate_limit_per_minute: env.RATE_LIMIT_PER_MINUTE,
      cors_origins: env.CORS_ORIGINS,
    },
    "gateway listening",
  );
  return {
    async stop() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      queue.stop();
      await Promise.all([store.close(), callbacks.close()]);
      await nc.drain();
    },
  };
});
