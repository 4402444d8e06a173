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
