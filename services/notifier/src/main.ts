import { MongoClient } from "mongodb";
import { PROJECTION_DB } from "@trainyard/contracts";
import { connectNats, natsAuth, outboundPolicyOf, runService } from "@trainyard/runtime";
import { Env } from "./env.js";
import { startNotifier } from "./notifier.js";

await runService("notifier", Env, async (env, log) => {
  const nc = await connectNats(env.NATS_URL, "notifier", natsAuth(env, "notifier"));
  const mongo = await new MongoClient(env.MONGO_URL).connect();
  const policy = outboundPolicyOf(env);
  const notifier = await startNotifier({
    nc,
    db: mongo.db(PROJECTION_DB),
    log,
    links: {
      publicBaseUrl: env.PUBLIC_BASE_URL,
      secret: env.DOWNLOAD_URL_SECRET,
      ttlHours: env.DOWNLOAD_URL_TTL_HOURS,
    },
    retry: { scheduleMs: env.CALLBACK_RETRY_SCHEDULE, jitter: env.CALLBACK_RETRY_JITTER },
    http: { policy, timeoutMs: env.CALLBACK_TIMEOUT_MS },
    concurrency: env.CALLBACK_CONCURRENCY,
    replicaId: env.NOTIFIER_REPLICA_ID,
    leaseTtlMs: env.NOTIFIER_LEASE_TTL,
    targetTtlMs: env.CALLBACK_TARGET_TTL,
    secretHeader: env.CALLBACK_SECRET_HEADER,
  });
  log.info(
    {
      replica_id: env.NOTIFIER_REPLICA_ID,
      retry_schedule_ms: env.CALLBACK_RETRY_SCHEDULE,
      allow_private: policy.allowPrivate,
      allow_list: [...policy.allowHosts, ...policy.allowCidrs],
    },
    "notifier started",
  );
  return {
    async stop() {
      await notifier.stop();
      await mongo.close();
      await nc.drain();
    },
  };
});
