import { createLogger, exitOnStartupError, onShutdown, parseEnv, type Logger } from "@trainyard/runtime";
import { Env } from "./env.js";
import { startDatasetService } from "./service.js";

let log: Logger | undefined;
try {
  const env = parseEnv(Env);
  log = createLogger("dataset", env.LOG_LEVEL);
  const service = await startDatasetService(env, log);
  onShutdown(log, () => service.stop());
} catch (err) {
  exitOnStartupError(log, err);
}
