import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import { z } from "zod";
import { CommonEnv, envAllowList, envBool } from "@trainyard/runtime";
import { longestDeliveryMs, parseDuration, parseSchedule, STANDARD_WEBHOOKS_SCHEDULE } from "./retry-schedule.js";

const positiveInt = z.coerce.number().int().positive();
const DAY_MS = 86_400_000;

/** A duration (`15s`, `500ms`, `2m`) or a plain number of milliseconds. */
const duration = z.string().transform((text, ctx) => {
  try {
    return parseDuration(text);
  } catch (err) {
    ctx.addIssue({ code: "custom", message: (err as Error).message });
    return z.NEVER;
  }
});

export const Env = CommonEnv.extend({
  /** MongoDB (or FerretDB) holding the callback delivery log: the outbox and the settled callbacks. */
  MONGO_URL: z.string().default("mongodb://127.0.0.1:27017/"),
  /** The gateway's public URL, the origin of every download link in `training_completed` (e.g. http://127.0.0.1:8080). */
  PUBLIC_BASE_URL: z.url({ protocol: /^https?$/ }).transform((url) => url.replace(/\/+$/, "")),
  /** HMAC key of signed download paths; the gateway verifies them with the same value. */
  DOWNLOAD_URL_SECRET: z.string().min(16, "must be at least 16 characters"),
  /** How long model and artifact links stay valid; the PRD promises 7 days (168 h). */
  DOWNLOAD_URL_TTL_HOURS: positiveInt.default(168),
  /** Upper bound of one callback POST (connect, headers and body), in milliseconds; a timeout is a failed attempt. */
  CALLBACK_TIMEOUT_MS: positiveInt.default(15_000),
  /**
   * Delays after the 1st, 2nd, … failed attempt of a callback, comma-separated (`250ms`, `5s`,
   * `5m`, `2h`, `1d`); after the last one fails the callback is dead-lettered. Standard Webhooks'
   * schedule by default; compress it for tests (e.g. `50ms,100ms,200ms`).
   */
  CALLBACK_RETRY_SCHEDULE: z
    .string()
    .default(STANDARD_WEBHOOKS_SCHEDULE)
    .transform((text, ctx) => {
      try {
        return parseSchedule(text);
      } catch (err) {
        ctx.addIssue({ code: "custom", message: (err as Error).message });
        return z.NEVER;
      }
    }),
  /** Random spread of each retry delay, as a fraction of it (0.2: 80–120 %). */
  CALLBACK_RETRY_JITTER: z.coerce.number().min(0).max(1).default(0.2),
  /** Callback POSTs in flight at once over all jobs (each job has at most one). */
  CALLBACK_CONCURRENCY: positiveInt.default(100),
  /** How long a notifier replica that stopped renewing keeps the delivery lease before another takes over. */
  NOTIFIER_LEASE_TTL: duration.default(15_000),
  /** This replica's name in the delivery lease (logs, the lease document); unique per process by default. */
  NOTIFIER_REPLICA_ID: z
    .string()
    .min(1)
    .default(`${hostname()}-${process.pid}-${randomBytes(3).toString("hex")}`),
  /**
   * Sends the PRD's `X-Callback-Secret` header (the job's secret itself) with every callback, for
   * the apps that check it; `false` for apps that verify the Standard Webhooks signature instead,
   * so the secret never travels.
   */
  CALLBACK_SECRET_HEADER: envBool(true),
  /** Lets callbacks reach loopback and private networks (never cloud metadata): development and tests only (SSRF guard). */
  OUTBOUND_ALLOW_PRIVATE: envBool(false),
  /**
   * Hosts (`hooks.internal`, `*.corp.example`), IP addresses and CIDR ranges callback URLs may
   * reach although they are not public; the same setting as the dataset service's. Comma-separated.
   */
  OUTBOUND_ALLOW_LIST: envAllowList(),
  /**
   * How long a job's callback target (URL and secret) is kept once the notifier has taken in the
   * job's terminal event (`21d`, `36h`); then its key expires. It must outlast the job's remaining
   * callbacks, at most twice the longest delivery of the schedule (a failing progress callback's
   * retries, then the terminal one's: 18.4 days by default); the rest is the time an operator has
   * to redeliver a callback.
   */
  CALLBACK_TARGET_TTL: duration.default(21 * DAY_MS),
}).superRefine((env, ctx) => {
  const needed = 2 * longestDeliveryMs({ scheduleMs: env.CALLBACK_RETRY_SCHEDULE, jitter: env.CALLBACK_RETRY_JITTER });
  if (env.CALLBACK_TARGET_TTL < needed) {
    ctx.addIssue({
      code: "custom",
      path: ["CALLBACK_TARGET_TTL"],
      message: `must be at least ${Math.ceil(needed / 1000)}s: twice the longest delivery of CALLBACK_RETRY_SCHEDULE, so no retry finds the target gone`,
    });
  }
});
export type Env = z.infer<typeof Env>;
