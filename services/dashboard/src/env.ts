import { CommonEnv, envTrustProxy } from "@trainyard/runtime";
import { z } from "zod";

/** An optional variable; set but empty counts as unset. */
const optional = <T extends z.ZodType>(schema: T) =>
  z.preprocess((value) => (value === "" ? undefined : value), schema.optional());
const httpUrl = z.url({ protocol: /^https?$/ }).transform((url) => url.replace(/\/+$/, ""));

/** The dashboard's configuration, parsed once at start-up (`parseEnv(Env)`). */
export const Env = CommonEnv.extend({
  /** MongoDB (or FerretDB) holding the projection: database `trainyard`, collections `jobs`, `job_epochs`, `agents`. */
  MONGO_URL: z.string().min(1).default("mongodb://127.0.0.1:27017/"),
  /** Port of the HTTP server: the UI, `/api/*`, `/stream/progress/*`, `/healthz` and the `/ws` live feed. */
  DASHBOARD_PORT: z.coerce.number().int().min(0).max(65_535).default(8081),
  /** Interface to listen on. */
  DASHBOARD_HOST: z.string().min(1).default("127.0.0.1"),
  /**
   * The operator's login token. When set, the UI asks for it once and keeps an HttpOnly session
   * cookie; the API, the live feed and the progress streams refuse requests without one (or
   * without `Authorization: Bearer <token>`). Unset: the dashboard is open, for development only.
   */
  DASHBOARD_TOKEN: optional(z.string().min(16, "must be at least 16 characters")),
  /**
   * Which proxies to believe about the client's address, as the gateway's TRUST_PROXY: false (the
   * default: the TCP peer is the client), true, a hop count, or comma-separated addresses/subnets.
   * Failed token checks are counted per client address, so a wrong setting lets clients pick theirs.
   */
  DASHBOARD_TRUST_PROXY: envTrustProxy(),
  /**
   * The dashboard's public URL (https://trainyard.example.com) when operators reach it by a name:
   * requests naming another host are refused (DNS rebinding). IP addresses and localhost always work.
   */
  DASHBOARD_PUBLIC_URL: optional(httpUrl),
  /** How long a login lasts, in hours. */
  DASHBOARD_SESSION_HOURS: z.coerce
    .number()
    .positive()
    .max(24 * 30)
    .default(12),
  /** The gateway's base URL as the dashboard reaches it; the cancel button calls its DELETE /api/v1/jobs/{id}. */
  GATEWAY_URL: optional(httpUrl),
  /** A bearer token the gateway accepts (one of its API_SECRETS); used server-side only, never sent to browsers. */
  GATEWAY_API_TOKEN: optional(z.string().min(16, "must be at least 16 characters")),
  /** The gateway's public origin, where signed model/artifact downloads are fetched (as the notifier's links). */
  PUBLIC_BASE_URL: optional(httpUrl),
  /** Key of the signed download links; the gateway's DOWNLOAD_URL_SECRET. */
  DOWNLOAD_URL_SECRET: optional(z.string().min(16, "must be at least 16 characters")),
  /** The job page's "View in app" link, e.g. https://app.example.com/training/{job_id}; unset hides it. */
  DASHBOARD_APP_URL_TEMPLATE: optional(
    z
      .string()
      .refine((value) => value.includes("{job_id}"), "must contain {job_id}")
      .refine((value) => /^https?:\/\//.test(value), "must be an http(s) URL"),
  ),
  /** Job length assumed for queued jobs' estimated start until jobs have completed (as the gateway's). */
  ESTIMATED_JOB_SECONDS: z.coerce.number().int().min(1).default(1800),
}).refine((env) => (env.GATEWAY_URL === undefined) === (env.GATEWAY_API_TOKEN === undefined), {
  message: "set GATEWAY_URL and GATEWAY_API_TOKEN together (or neither)",
  path: ["GATEWAY_API_TOKEN"],
});
export type Env = z.infer<typeof Env>;
