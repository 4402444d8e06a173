import { hostname } from "node:os";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { z } from "zod";
import { AGENT_ID_PATTERN } from "@trainyard/contracts";
import { CommonEnv, envBool, zipLimitsEnv } from "@trainyard/runtime";

export const Env = CommonEnv.extend({
  /** Unique, stable name of this agent; NATS subject and KV key safe. Defaults to the host name. */
  AGENT_ID: z
    .string()
    .regex(AGENT_ID_PATTERN, "letters, digits, _ and - only (it becomes part of NATS subjects)")
    .default(
      hostname()
        .replace(/[^A-Za-z0-9_-]/g, "-")
        .slice(0, 64),
    ),
  /** Where datasets are extracted and runs are written, one folder per job. */
  AGENT_WORK_DIR: z.string().default(join(tmpdir(), "trainyard-agent")),
  /** Training devices, comma separated (`cuda:0,cuda:1` or `cpu`); `auto` asks nvidia-smi. */
  AGENT_DEVICES: z.string().default("auto"),
  /** Python interpreter that has the trainyard-trainer package (and Ultralytics) installed. */
  TRAINER_PYTHON: z.string().default("python3"),
  /** Folder of locally staged weights (e.g. yolov8n.pt); without it models start from their yaml. */
  TRAINER_WEIGHTS_DIR: z.string().optional(),
  /** Data-loader workers when the request does not say; 0 loads in the training process. */
  TRAINER_DEFAULT_WORKERS: z.coerce.number().int().min(0).default(2),
  /** Runs of one job on this host when its trainer crashes (killed, not a job error) before it fails. */
  AGENT_MAX_RUN_ATTEMPTS: z.coerce.number().int().min(1).default(3),
  /**
   * The largest share of training time spent uploading resume checkpoints: one is uploaded once
   * the training since the last took (1 - share) / share times that upload. 1 uploads every epoch.
   */
  CHECKPOINT_UPLOAD_SHARE: z.coerce.number().gt(0).max(1).default(0.01),
  /**
   * Free MiB below which the work folder counts as full: the agent hands back the jobs it breaks
   * and takes no new one until there is room again.
   */
  AGENT_WORK_DIR_MIN_FREE_MB: z.coerce.number().int().min(0).default(256),
  /** Start drained: register, but take no job (also set at run time by SIGUSR2). */
  AGENT_DRAIN: envBool(false),
  /** The dataset service's archive limits, which the agent's extraction applies too. */
  ...zipLimitsEnv,
  /** How often this agent renews its heartbeat (its KV entry expires after 30 s). */
  HEARTBEAT_INTERVAL_MS: z.coerce.number().int().min(500).max(20_000).default(5000),
});
export type Env = z.infer<typeof Env>;
