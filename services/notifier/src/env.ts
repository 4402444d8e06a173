import { z } from "zod";
import { CommonEnv, envBool } from "@trainyard/runtime";

const positiveInt = z.coerce.number().int().positive();

export const Env = CommonEnv.extend({
  /** The gateway's public URL, the origin of every download link in `training_completed` (e.g. http://127.0.0.1:8080). */
  PUBLIC_BASE_URL: z.url({ protocol: /^https?$/ }).transform((url) => url.replace(/\/+$/, "")),
  /** HMAC key of signed download paths; the gateway verifies them with the same value. */
  DOWNLOAD_URL_SECRET: z.string().min(16, "must be at least 16 characters"),
  /** How long model and artifact links stay valid; the PRD promises 7 days (168 h). */
  DOWNLOAD_URL_TTL_HOURS: positiveInt.default(168),
  /** Upper bound of one callback POST (connect, headers and body), in milliseconds. */
  CALLBACK_TIMEOUT_MS: positiveInt.default(10_000),
  /** Attempts per callback before it is given up (logged, then acknowledged). */
  CALLBACK_MAX_ATTEMPTS: positiveInt.default(8),
  /** Lets callbacks reach loopback and private networks: development and tests only (SSRF guard). */
  OUTBOUND_ALLOW_PRIVATE: envBool(false),
});
export type Env = z.infer<typeof Env>;
