import { tmpdir } from "node:os";
import { join } from "node:path";
import { CommonEnv, envBool } from "@trainyard/runtime";
import { z } from "zod";

const GIB = 1024 ** 3;

export const Env = CommonEnv.extend({
  /** Scratch space for downloads and extraction; each job gets its own folder, removed when done. */
  DATASET_WORK_DIR: z.string().min(1).default(join(tmpdir(), "trainyard-dataset")),
  /** Largest dataset archive accepted, in bytes; enforced while streaming, not only by content-length. */
  DATASET_MAX_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(10 * GIB),
  /** Deadline for a whole download, redirects included, in milliseconds. */
  DATASET_DOWNLOAD_TIMEOUT_MS: z.coerce.number().int().positive().default(600_000),
  /** Allows dataset URLs on loopback and private networks: dev and tests only (SSRF guard). */
  OUTBOUND_ALLOW_PRIVATE: envBool(false),
});
export type Env = z.infer<typeof Env>;
