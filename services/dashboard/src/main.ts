import { createLogger, exitOnStartupError, onShutdown, parseEnv, type Logger } from "@trainyard/runtime";
import { startDashboard } from "./dashboard.js";
import { Env } from "./env.js";

let log: Logger | undefined;
try {
  const env = parseEnv(Env);
  log = createLogger("dashboard", env.LOG_LEVEL);
  const dashboard = await startDashboard({
    natsUrl: env.NATS_URL,
    mongoUrl: env.MONGO_URL,
    host: env.DASHBOARD_HOST,
    port: env.DASHBOARD_PORT,
    log,
  });
  onShutdown(log, () => dashboard.stop());
} catch (err) {
  exitOnStartupError(log, err);
}
