import { pino, type Logger } from "pino";

export type { Logger };

/** Paths whose values never reach a log line. */
const REDACTED = [
  "callback_secret",
  "*.callback_secret",
  "secret",
  "*.secret",
  "authorization",
  "*.authorization",
  "headers.authorization",
  "headers['x-callback-secret']",
];

/** A structured JSON logger for one service; secrets are redacted. */
export function createLogger(service: string, level: string): Logger {
  return pino({ name: service, level, redact: { paths: REDACTED, censor: "[redacted]" } });
}
