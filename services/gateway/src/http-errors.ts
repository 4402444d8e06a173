import type { ErrorRequestHandler, Response } from "express";
import type { ApiError, ApiErrorCode } from "@trainyard/contracts";
import type { Logger } from "@trainyard/runtime";
import type { z } from "zod";
import { DependencyError } from "./adapters/dependency.js";

/** Seconds a client should wait after a 503 caused by NATS or MongoDB. */
const DEPENDENCY_RETRY_AFTER_S = 5;

/** An answer other than success, thrown by a route or middleware and sent by `errorHandler`. */
export class HttpError extends Error {
  override name = "HttpError";
  constructor(
    readonly status: number,
    readonly code: ApiErrorCode,
    readonly detail: string,
    readonly errors?: ApiError["errors"],
  ) {
    super(detail);
  }
}

/** Sends a REST error body (`detail` as FastAPI clients expect, plus a stable `code`). */
export function sendError(
  res: Response,
  status: number,
  code: ApiErrorCode,
  detail: string,
  errors?: ApiError["errors"],
): void {
  const body: ApiError = { detail, code, ...(errors ? { errors } : {}) };
  res.status(status).json(body);
}

/**
 * Flattens zod issues to `{path, message}` pairs a client can show next to its fields. zod's
 * messages name the expected type or bound, never the value received, so no secret is echoed.
 */
export function issuesOf(error: z.ZodError, prefix: readonly string[] = []): NonNullable<ApiError["errors"]> {
  return error.issues.map((issue) => ({
    path: [...prefix, ...issue.path.map(String)].join(".") || "(body)",
    message: issue.message,
  }));
}

/** Errors of express' body parser and router: a client error with an HTTP status, or not. */
interface ClientError {
  status: number;
  type?: string;
}

function clientErrorOf(err: unknown): ClientError | null {
  if (typeof err !== "object" || err === null) return null;
  const { status, statusCode, type, expose } = err as {
    status?: unknown;
    statusCode?: unknown;
    type?: unknown;
    expose?: unknown;
  };
  const code = typeof status === "number" ? status : statusCode;
  if (typeof code !== "number" || code < 400 || code > 499 || expose === false) return null;
  return { status: code, ...(typeof type === "string" ? { type } : {}) };
}

/**
 * The last middleware: maps every failure to an `ApiError`. Client errors keep their 4xx,
 * dependency failures are 503 and only a bug is 500. Nothing of a request body reaches the log.
 */
export function errorHandler(log: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, next) => {
    if (res.headersSent) return next(err);
    if (err instanceof HttpError) {
      log.debug({ status: err.status, code: err.code, method: req.method, path: req.path }, "request refused");
      return sendError(res, err.status, err.code, err.detail, err.errors);
    }
    if (err instanceof DependencyError) {
      log.warn({ dependency: err.dependency, err: err.cause, method: req.method, path: req.path }, "dependency failed");
      res.setHeader("Retry-After", String(DEPENDENCY_RETRY_AFTER_S));
      return sendError(res, 503, "SERVICE_UNAVAILABLE", `Service unavailable: ${err.dependency} is not reachable`);
    }
    const client = clientErrorOf(err);
    if (client) {
      // body-parser errors carry the raw body; only its type is logged
      log.debug({ type: client.type, status: client.status, method: req.method, path: req.path }, "client error");
      return sendClientError(res, client);
    }
    log.error({ err, method: req.method, path: req.path }, "request failed");
    sendError(res, 500, "INTERNAL_ERROR", "Internal error");
  };
}

/** body-parser's error types: status, code, detail, and what is wrong with the body. */
const BODY_ERRORS: Record<string, [number, ApiErrorCode, string, string]> = {
  "entity.too.large": [413, "PAYLOAD_TOO_LARGE", "Request body is too large", "is larger than the limit"],
  "entity.parse.failed": [400, "INVALID_PAYLOAD", "Request body is not valid JSON", "is not valid JSON"],
  "encoding.unsupported": [
    415,
    "UNSUPPORTED_MEDIA_TYPE",
    "Unsupported Content-Encoding",
    "has an unsupported encoding",
  ],
  "charset.unsupported": [415, "UNSUPPORTED_MEDIA_TYPE", "Request body must be UTF-8 JSON", "is not UTF-8"],
};

function sendClientError(res: Response, err: ClientError): void {
  const known = err.type === undefined ? undefined : BODY_ERRORS[err.type];
  if (known) {
    const [status, code, detail, message] = known;
    return sendError(res, status, code, detail, [{ path: "(body)", message }]);
  }
  if (err.type !== undefined) {
    // another body failure: too large, of another media type, aborted or of the wrong length
    if (err.status === 413) return sendError(res, 413, "PAYLOAD_TOO_LARGE", "Request body is too large");
    if (err.status === 415) return sendError(res, 415, "UNSUPPORTED_MEDIA_TYPE", "Unsupported media type");
    return sendError(res, 400, "INVALID_PAYLOAD", "Request body could not be read", [
      { path: "(body)", message: "could not be read" },
    ]);
  }
  // the router could not decode the URL's percent-encoding
  return sendError(res, 400, "INVALID_PARAMETER", "Request URL could not be decoded", [
    { path: "(url)", message: "is not a valid percent-encoded URL" },
  ]);
}
