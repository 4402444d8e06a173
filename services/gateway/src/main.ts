import { connectNats, ensureStreams, runService } from "@trainyard/runtime";
import { openBus } from "./adapters/bus.js";
import { connectJobStore } from "./adapters/job-store.js";
import { createApp } from "./app.js";
import { Env } from "./env.js";

await runService("gateway", Env, async (env, log) => {
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
  const server = await new Promise<ReturnType<typeof app.listen>>((resolve) => {
    const listening = app.listen(env.GATEWAY_PORT, env.GATEWAY_HOST, () => resolve(listening));
  });
  log.info({ url: `http://${env.GATEWAY_HOST}:${env.GATEWAY_PORT}` }, "gateway listening");
  return {
    async stop() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await store.close();
      await nc.drain();
    },
  };
});
