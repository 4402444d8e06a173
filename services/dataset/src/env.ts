import { tmpdir } from "node:os";
import { join } from "node:path";
import { CommonEnv, envAllowList, envBool, envDuration, zipLimitsEnv } from "@trainyard/runtime";
import { z } from "zod";

const GIB = 1024 ** 3;
const positiveInt = z.coerce.number().int().positive();

export const Env = CommonEnv.extend({
  /**
   * Scratch space for downloaded archives (never extracted here); each job gets its own folder,
   * removed when done. Folders a killed process left are removed at start-up and by every sweep.
   */
  DATASET_WORK_DIR: z.string().min(1).default(join(tmpdir(), "trainyard-dataset")),
  /**
   * A stored archive is deleted once no queued or running job needs it and no job took it into
   * use for this long (`10m`): the time a job may take from this service's hand-over to the
   * scheduler's queue.
   */
  DATASET_ARCHIVE_GRACE: envDuration("10m"),
  /** How often the datasets store (unneeded archives) and the work dir (leftovers) are swept (`5m`). */
  DATASET_SWEEP_INTERVAL: envDuration("5m").pipe(z.number().min(100, "must be at least 100ms")),
  /** Largest dataset archive accepted, in bytes; refused early on Content-Length and enforced while streaming. */
  DATASET_MAX_BYTES: positiveInt.default(10 * GIB),
  /** Deadline for a whole download, every attempt, redirect and back-off included, in milliseconds. */
  DATASET_DOWNLOAD_TIMEOUT_MS: positiveInt.default(600_000),
  /** Deadline for opening a connection (TCP and TLS) to the dataset server, in milliseconds. */
  DATASET_CONNECT_TIMEOUT_MS: positiveInt.default(10_000),
  /** Longest silence allowed while waiting for response headers or between body chunks, in milliseconds. */
  DATASET_IDLE_TIMEOUT_MS: positiveInt.default(30_000),
  /** Tries per download for network errors and 5xx/408/429 answers (the first included); retries back off. */
  DATASET_DOWNLOAD_ATTEMPTS: positiveInt.default(4),
  /** DATASET_MAX_ENTRIES, DATASET_MAX_EXTRACTED_BYTES, DATASET_MAX_COMPRESSION_RATIO (the agents read them too). */
  ...zipLimitsEnv,
  /**
   * Accept label lines and images that Ultralytics would skip (malformed lines, class ids out of
   * range, undecodable or tiny images): they become warnings sent with dataset_info instead of
   * failing the job with DATASET_INVALID.
   */
  DATASET_LENIENT_VALIDATION: envBool(false),
  /** Allows dataset URLs on loopback and private networks (never cloud metadata): dev and tests only. */
  OUTBOUND_ALLOW_PRIVATE: envBool(false),
  /**
   * Hosts (`storage.internal`, `*.corp.example`), IP addresses and CIDR ranges that dataset URLs
   * may reach although they are not public: a self-hosted deployment's own storage. Comma-separated.
   */
  OUTBOUND_ALLOW_LIST: envAllowList(),
});
export type Env = z.infer<typeof Env>;
