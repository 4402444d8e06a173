import { connectNats, runService } from "@trainyard/runtime";
import { Env } from "./env.js";
import { startNotifier } from "./notifier.js";
import { DEFAULT_RETRY_POLICY } from "./retry-schedule.js";

await runService("notifier", Env, async (env, log) => {
  const nc = await connectNats(env.NATS_URL, "notifier");
  const notifier = await startNotifier({
    nc,
    log,
    links: {
      publicBaseUrl: env.PUBLIC_BASE_URL,
      secret: env.DOWNLOAD_URL_SECRET,
      ttlHours: env.DOWNLOAD_URL_TTL_HOURS,
    },
    retry: { ...DEFAULT_RETRY_POLICY, maxAttempts: env.CALLBACK_MAX_ATTEMPTS },
    http: { timeoutMs: env.CALLBACK_TIMEOUT_MS, allowPrivate: env.OUTBOUND_ALLOW_PRIVATE },
  });
  log.info("notifier started");
  return {
    async stop() {
      await notifier.stop();
      await nc.drain();
    },
  };
});
