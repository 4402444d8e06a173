import {
  connectNats,
  createLogger,
  ensureStreams,
  exitOnStartupError,
  onShutdown,
  parseEnv,
  type Logger,
} from "@trainyard/runtime";
import { openBus } from "./adapters/bus.js";
import { connectJobStore } from "./adapters/job-store.js";
import { createApp } from "./app.js";
import { Env } from "./env.js";

let log: Logger | undefined;
try {
  const env = parseEnv(Env);
  log = createLogger("gateway", env.LOG_LEVEL);
  const nc = await connectNats(env.NATS_URL, "gateway");
  await ensureStreams(nc);
  const [bus, store] = await Promise.all([openBus(nc), connectJobStore(env.MONGO_URL)]);
  const app = createApp({
    store,
    bus,
    log,
    apiSecret: env.API_SECRET,
    downloadSecret: env.DOWNLOAD_URL_SECRET,
    maxQueuedJobs: env.MAX_QUEUED_JOBS,
    typicalJobSeconds: env.ESTIMATED_JOB_SECONDS,
    version: env.TRAINYARD_VERSION,
    now: () => new Date(),
  });
  const server = app.listen(env.GATEWAY_PORT, env.GATEWAY_HOST, () => {
    log?.info({ url: `http://${env.GATEWAY_HOST}:${env.GATEWAY_PORT}` }, "gateway listening");
  });
  const running = log;
  onShutdown(running, async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await store.close();
    await nc.drain();
  });
} catch (err) {
  exitOnStartupError(log, err);
}
