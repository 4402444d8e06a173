#!/usr/bin/env node
/**
 * The NATS provisioner: creates every stream, KV bucket and object store with the deployment's
 * replicas and bounds, or brings them to it, then exits. Run as the `admin` user before the
 * services start (the launcher, compose's `nats-provision`, the Helm chart's hook Job).
 */
import { z } from "zod";
import { CommonEnv, envDuration, natsAuth, parseEnv } from "./env.js";
import { createLogger } from "./logger.js";
import { exitOnStartupError } from "./lifecycle.js";
import { connectNats } from "./nats.js";
import { DEFAULT_TOPOLOGY, provisionTopology } from "./topology.js";

const Env = CommonEnv.extend({
  /** Replicas of every stream, bucket and store: 1 on a single server, 3 on a cluster. */
  NATS_REPLICAS: z.coerce.number().int().min(1).max(5).default(DEFAULT_TOPOLOGY.replicas),
  /** Bound of each stream in bytes; the oldest messages are dropped first. */
  NATS_STREAM_MAX_BYTES: z.coerce.number().int().positive().default(DEFAULT_TOPOLOGY.streamMaxBytes),
  /** Bound of each object store (datasets, artifacts) in bytes; a put past it is refused. */
  NATS_OBJECT_STORE_MAX_BYTES: z.coerce.number().int().positive().default(DEFAULT_TOPOLOGY.objectStoreMaxBytes),
  /**
   * Age at which artifacts (models, plots, logs, checkpoints) are deleted (`192h`, `10d`): keep it
   * above the notifier's DOWNLOAD_URL_TTL_HOURS, or download links outlive their files.
   */
  NATS_ARTIFACTS_MAX_AGE: envDuration(String(DEFAULT_TOPOLOGY.artifactsMaxAgeMs)).pipe(
    z.number().min(1000, "must be at least 1s"),
  ),
});

const log = createLogger("provision", "info");
try {
  const env = parseEnv(Env);
  const nc = await connectNats(env.NATS_URL, "provision", natsAuth(env, "admin"));
  await provisionTopology(nc, {
    replicas: env.NATS_REPLICAS,
    streamMaxBytes: env.NATS_STREAM_MAX_BYTES,
    objectStoreMaxBytes: env.NATS_OBJECT_STORE_MAX_BYTES,
    artifactsMaxAgeMs: env.NATS_ARTIFACTS_MAX_AGE,
  });
  await nc.drain();
  log.info({ replicas: env.NATS_REPLICAS, artifacts_max_age_ms: env.NATS_ARTIFACTS_MAX_AGE }, "topology provisioned");
} catch (err) {
  exitOnStartupError(log, err);
}
