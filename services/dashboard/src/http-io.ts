import type { IncomingMessage, ServerResponse } from "node:http";
import type { ApiError } from "@trainyard/contracts";

// Small HTTP helpers shared by the routes: JSON answers, plain text, bounded JSON bodies.

export function apiError(detail: string, code: ApiError["code"]): ApiError {
  return { detail, code };
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    ...headers,
  });
  res.end(text);
}

export function sendText(
  res: ServerResponse,
  status: number,
  text: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, {
    "content-type": "text/plain; charset=utf-8",
    "content-length": Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

export function sendEmpty(res: ServerResponse, status: number, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "cache-control": "no-store", ...headers });
  res.end();
}

export class BodyError extends Error {
  constructor(
    readonly status: 400 | 413 | 415,
    message: string,
  ) {
    super(message);
  }
}

/** Reads a JSON body of at most `limit` bytes; only `application/json`, which a cross-site form cannot send. */
export async function readJson(req: IncomingMessage, limit = 4096): Promise<unknown> {
  if (!/^application\/json\b/i.test(req.headers["content-type"] ?? "")) {
    throw new BodyError(415, "the body must be application/json");
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new BodyError(413, "the body is too large");
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8")) as unknown;
  } catch {
    throw new BodyError(400, "the body is not JSON");
  }
}

/**
 * True when a request comes from the dashboard's own pages. Browsers send Origin on every POST,
 * DELETE and WebSocket upgrade; a request without one comes from a tool, not a browser.
 */
export function sameOrigin(req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}

/** True when the browser reached us over TLS (directly or through a proxy that says so). */
export function isSecure(req: IncomingMessage): boolean {
  return ("encrypted" in req.socket && req.socket.encrypted === true) || req.headers["x-forwarded-proto"] === "https";
}
