import { runService } from "@trainyard/runtime";
import { startDashboard } from "./dashboard.js";
import { Env } from "./env.js";

await runService("dashboard", Env, (env, log) =>
  startDashboard({
    natsUrl: env.NATS_URL,
    mongoUrl: env.MONGO_URL,
    host: env.DASHBOARD_HOST,
    port: env.DASHBOARD_PORT,
    log,
  }),
);
