import { z } from "zod";
import type { NatsAuth } from "./nats.js";

/** Thrown when configuration is invalid; the message names every bad variable. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Parses `source` (process.env by default) once, failing with a message that names each bad variable. */
export function parseEnv<T extends z.ZodType>(schema: T, source: NodeJS.ProcessEnv = process.env): z.infer<T> {
  const result = schema.safeParse(source);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => `  ${issue.path.join(".") || "(env)"}: ${issue.message}`);
  throw new ConfigError(`invalid configuration:\n${lines.join("\n")}`);
}

/** A boolean env variable: "true"/"1" or "false"/"0". */
export const envBool = (fallback: boolean) =>
  z
    .enum(["true", "false", "1", "0"])
    .default(fallback ? "true" : "false")
    .transform((v) => v === "true" || v === "1");

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** `250ms`, `5s`, `30m`, `2h`, `1d` (or a bare number of milliseconds) in milliseconds; throws on anything else. */
export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/.exec(text.trim());
  if (!match) throw new Error(`${JSON.stringify(text)} is not a duration such as 250ms, 5s, 30m, 2h or 1d`);
  const unit = (match[2] ?? "ms") as keyof typeof UNIT_MS;
  return Math.round(Number(match[1]) * UNIT_MS[unit]);
}

/** A duration env variable (`parseDuration`), in milliseconds; `fallback` is written the same way. */
export const envDuration = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((text, ctx) => {
      try {
        return parseDuration(text);
      } catch (err) {
        ctx.addIssue({ code: "custom", message: (err as Error).message });
        return z.NEVER;
      }
    });

/** Which proxies to believe about a client's address (express "trust proxy"; proxy-addr). */
export type TrustProxy = boolean | number | string[];

/**
 * A trust-proxy env variable: false (the TCP peer is the client), true (any X-Forwarded-For: only
 * behind a proxy that overwrites it), a hop count, or comma-separated proxy addresses/subnets.
 */
export const envTrustProxy = () =>
  z
    .string()
    .default("false")
    .transform((value): TrustProxy => {
      const v = value.trim();
      if (v === "" || v === "false") return false;
      if (v === "true") return true;
      if (/^\d+$/.test(v)) return Number(v);
      return v.split(",").map((item) => item.trim());
    });

const optionalPath = z.preprocess((v) => (v === "" ? undefined : v), z.string().min(1).optional());

/** Variables every service reads. */
export const CommonEnv = z.object({
  /** NATS server(s), comma separated: every node of a cluster, so any of them can take the connection. */
  NATS_URL: z.string().default("nats://127.0.0.1:4222"),
  /** This service's nkey seed file (written by `nats-auth`); unset connects without credentials (a development server). */
  NATS_NKEY_SEED_FILE: optionalPath,
  /** A JWT `.creds` file instead of an nkey seed (operator-mode NATS deployments). */
  NATS_CREDS_FILE: optionalPath,
  /** The NATS user those credentials belong to, when not the service's own (e.g. `agent-pool`). */
  NATS_USER: optionalPath,
  /** CA bundle that signs the NATS servers' certificates; set to connect with TLS. */
  NATS_TLS_CA_FILE: optionalPath,
  /** Client certificate and key, for servers that verify clients (mutual TLS). */
  NATS_TLS_CERT_FILE: optionalPath,
  NATS_TLS_KEY_FILE: optionalPath,
  /** pino level: trace, debug, info, warn, error. */
  LOG_LEVEL: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info"),
});

/** The NATS credentials of `CommonEnv`, for `connectNats`; `user` is the service's own NATS user by default. */
export function natsAuth(env: z.infer<typeof CommonEnv>, user: string): NatsAuth {
  return {
    user: env.NATS_USER ?? user,
    nkeySeedFile: env.NATS_NKEY_SEED_FILE,
    credsFile: env.NATS_CREDS_FILE,
    tls: { caFile: env.NATS_TLS_CA_FILE, certFile: env.NATS_TLS_CERT_FILE, keyFile: env.NATS_TLS_KEY_FILE },
  };
}
