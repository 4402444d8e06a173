import { z } from "zod";

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

/** Variables every service reads. */
export const CommonEnv = z.object({
  /** NATS server(s), comma separated. */
  NATS_URL: z.string().default("nats://127.0.0.1:4222"),
  /** pino level: trace, debug, info, warn, error. */
  LOG_LEVEL: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info"),
});
