import { natsAuth, runService } from "@trainyard/runtime";
import { startDashboard } from "./dashboard.js";
import { Env } from "./env.js";

await runService("dashboard", Env, (env, log) =>
  startDashboard({
    natsUrl: env.NATS_URL,
    natsAuth: natsAuth(env, "dashboard"),
    mongoUrl: env.MONGO_URL,
    host: env.DASHBOARD_HOST,
    port: env.DASHBOARD_PORT,
    log,
    token: env.DASHBOARD_TOKEN ?? null,
    trustProxy: env.DASHBOARD_TRUST_PROXY,
    publicHosts: env.DASHBOARD_PUBLIC_URL ? [new URL(env.DASHBOARD_PUBLIC_URL).hostname] : [],
    sessionTtlMs: env.DASHBOARD_SESSION_HOURS * 3600_000,
    gateway: env.GATEWAY_URL && env.GATEWAY_API_TOKEN ? { url: env.GATEWAY_URL, token: env.GATEWAY_API_TOKEN } : null,
    downloads:
      env.PUBLIC_BASE_URL && env.DOWNLOAD_URL_SECRET
        ? { publicBaseUrl: env.PUBLIC_BASE_URL, secret: env.DOWNLOAD_URL_SECRET }
        : null,
    appUrlTemplate: env.DASHBOARD_APP_URL_TEMPLATE ?? null,
    fallbackJobSeconds: env.ESTIMATED_JOB_SECONDS,
  }),
);
