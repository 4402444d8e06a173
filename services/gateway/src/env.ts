import { z } from "zod";
import { CommonEnv, envAllowList, envBool, envTrustProxy } from "@trainyard/runtime";

/** A comma-separated list, each item trimmed, empty items dropped. */
const commaList = z
  .string()
  .default("")
  .transform((value) =>
    value
      .split(",")
      .map((item) => item.trim())
      .filter((item) => item.length > 0),
  );

const token = z.string().min(16, "each token must be at least 16 characters");

/** A browser origin exactly as browsers send it: scheme, host and port, nothing more. */
const origin = z.string().refine((value) => {
  try {
    return new URL(value).origin === value;
  } catch {
    return false;
  }
}, "each origin must look like https://app.example.com (scheme, host, optional port; no path or slash)");

export type { TrustProxy } from "@trainyard/runtime";

export const Env = CommonEnv.extend({
  /** A single bearer token app backends send on /api/* (PRD 13.1); kept for existing set-ups. */
  API_SECRET: token.optional(),
  /**
   * Bearer tokens accepted on /api/*, comma separated; all are valid at once, so a token is
   * rotated by adding the new one, moving the apps over, then removing the old one. Joined with
   * API_SECRET; at least one token must be configured.
   */
  API_SECRETS: commaList.pipe(z.array(token)),
  /** MongoDB (or FerretDB) holding the job projection. */
  MONGO_URL: z.string().default("mongodb://127.0.0.1:27017/"),
  /** Interface and port the REST API listens on. */
  GATEWAY_HOST: z.string().default("127.0.0.1"),
  GATEWAY_PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  /** Key that signs model/artifact download URLs; the notifier signs with the same key. */
  DOWNLOAD_URL_SECRET: z.string().min(16, "must be at least 16 characters"),
  /** Jobs allowed to wait in the queue before POST /train answers 503 (PRD 7.1). */
  MAX_QUEUED_JOBS: z.coerce.number().int().min(1).default(100),
  /** Job length assumed for `estimated_start_time` until jobs have completed to learn from. */
  ESTIMATED_JOB_SECONDS: z.coerce.number().int().min(1).default(1800),
  /** Version reported by GET /health. */
  TRAINYARD_VERSION: z.string().default("0.1.0"),
  /** Largest request body accepted, in bytes; a larger one is answered 413. */
  MAX_BODY_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(16 * 1024 * 1024)
    .default(256 * 1024),
  /**
   * POST /api/v1/train requests allowed per client address and minute (PRD 13.3); 0 turns the
   * limit off. Counted by each gateway replica on its own.
   */
  RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(0).default(10),
  /**
   * POST /api/v1/train requests allowed per API token and minute, whatever addresses they come
   * from (an app spread over many hosts is still one client); 0 turns the limit off. Per replica.
   */
  RATE_LIMIT_PER_TOKEN_PER_MINUTE: z.coerce.number().int().min(0).default(60),
  /**
   * Which proxies to believe about the client address (express "trust proxy"): false (the
   * default: the TCP peer is the client), true (any X-Forwarded-For, only behind a proxy that
   * overwrites it), a hop count, or comma-separated proxy addresses/subnets ("loopback", "10.0.0.0/8").
   * The rate limit counts per client address, so a wrong setting lets clients pick their own.
   */
  TRUST_PROXY: envTrustProxy(),
  /**
   * The notifier's outbound policy, which POST /train applies to `callback_url` so that a URL the
   * notifier would refuse is a 400 at once, not a job whose callbacks nobody hears of: set both
   * the same as the notifier's. Loopback and private networks (never cloud metadata): dev and tests only.
   */
  OUTBOUND_ALLOW_PRIVATE: envBool(false),
  /** Hosts, `*.suffix` patterns, IP addresses and CIDR ranges callbacks may reach although not public. */
  OUTBOUND_ALLOW_LIST: envAllowList(),
  /**
   * Weak callback settings outside local mode (an http:// callback_url, a callback_secret under
   * 16 characters): `warn` accepts the job and logs a warning, `strict` answers 400.
   */
  CALLBACK_POLICY: z.enum(["warn", "strict"]).default("warn"),
  /** Browser origins allowed to call the API (PRD 17.7), comma separated; empty: no CORS. */
  CORS_ORIGINS: commaList.pipe(z.array(origin)),
  /** How long a MongoDB or NATS call may take before the request is answered 503. */
  DEPENDENCY_TIMEOUT_MS: z.coerce.number().int().min(100).default(5000),
  /** How long each check of GET /health may take; a slower dependency counts as down. */
  HEALTH_TIMEOUT_MS: z.coerce.number().int().min(50).default(2000),
})
  .transform(({ API_SECRET, API_SECRETS, ...env }) => ({
    ...env,
    /** Every valid bearer token; the raw variables are not kept, so they cannot leak elsewhere. */
    apiTokens: [...new Set([...(API_SECRET ? [API_SECRET] : []), ...API_SECRETS])],
  }))
  .refine((env) => env.apiTokens.length > 0, { message: "set API_SECRETS (or API_SECRET)", path: ["API_SECRETS"] });
export type Env = z.infer<typeof Env>;
