import { z } from "zod";
import { CommonEnv } from "@trainyard/runtime";

export const Env = CommonEnv.extend({
  /** Bearer token app backends send on /api/* (PRD 13.1). */
  API_SECRET: z.string().min(16, "must be at least 16 characters"),
  /** MongoDB (or FerretDB) holding the job projection. */
  MONGO_URL: z.string().default("mongodb://127.0.0.1:27017/"),
  /** Interface and port the REST API listens on. */
  GATEWAY_HOST: z.string().default("127.0.0.1"),
  GATEWAY_PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  /** Key that signs model/artifact download URLs; the notifier signs with the same key. */
  DOWNLOAD_URL_SECRET: z.string().min(16, "must be at least 16 characters"),
  /** Jobs allowed to wait in the queue before POST /train answers 503 (PRD 7.1). */
  MAX_QUEUED_JOBS: z.coerce.number().int().min(1).default(100),
  /** Typical job length, used only for `estimated_start_time`. */
  ESTIMATED_JOB_SECONDS: z.coerce.number().int().min(1).default(1800),
  /** Version reported by GET /health. */
  TRAINYARD_VERSION: z.string().default("0.1.0"),
});
export type Env = z.infer<typeof Env>;
