import type { z } from "zod";
import { parseEnv } from "./env.js";
import { createLogger, type Logger } from "./logger.js";

/**
 * Runs `stop` once on SIGINT/SIGTERM/SIGHUP, then exits. A second signal exits at once, so a stuck
 * shutdown can always be interrupted.
 */
export function onShutdown(log: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(1);
    stopping = true;
    log.info({ signal }, "shutting down");
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", handler);
  process.on("SIGTERM", handler);
  process.on("SIGHUP", handler);
}

/** Logs a start-up failure readably and exits non-zero. */
export function exitOnStartupError(log: Logger | undefined, err: unknown): never {
  if (log) log.fatal({ err }, "start-up failed");
  else console.error(err instanceof Error ? err.message : err);
  process.exit(1);
}

/** A started service: whatever it must undo on shutdown. */
export interface RunningService {
  stop(): Promise<void>;
}

/**
 * The whole life of a service process: parse its env once, make its logger, start it, and stop
 * it on SIGINT/SIGTERM. A start-up failure is logged readably and exits non-zero.
 */
export async function runService<S extends z.ZodType<{ LOG_LEVEL: string }>>(
  name: string,
  envSchema: S,
  start: (env: z.infer<S>, log: Logger) => Promise<RunningService>,
): Promise<void> {
  let log: Logger | undefined;
  try {
    const env = parseEnv(envSchema);
    log = createLogger(name, env.LOG_LEVEL);
    const service = await start(env, log);
    onShutdown(log, () => service.stop());
  } catch (err) {
    exitOnStartupError(log, err);
  }
}
