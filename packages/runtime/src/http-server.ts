import { createServer, type RequestListener, type Server } from "node:http";

/** What one HTTP server of ours allows a client: the slowloris and connection-flood bounds. */
export interface HttpServerLimits {
  /** The request's headers must all arrive within this (a slowloris client is cut off here). */
  headersTimeoutMs: number;
  /** The whole request, headers and body, must arrive within this. */
  requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. */
  keepAliveTimeoutMs: number;
  /** Requests one keep-alive connection may carry before it is closed (0: no bound). */
  maxRequestsPerSocket: number;
  /** Open connections at once; a connection over the bound is closed as it is accepted. */
  maxConnections: number;
}

/**
 * The bounds of every HTTP server (gateway, dashboard). Bodies are small JSON (the gateway's
 * body limit is 256 KiB), so 60 s for a request is generous; responses (model downloads, SSE,
 * WebSockets once upgraded) are not bounded by these.
 */
export const HTTP_SERVER_LIMITS: HttpServerLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 60_000,
  keepAliveTimeoutMs: 5_000,
  maxRequestsPerSocket: 1_000,
  maxConnections: 1_024,
};

/** A node:http server for `handler` (an express app or a plain listener) with `limits` applied. */
export function createHttpServer(handler: RequestListener, limits: HttpServerLimits = HTTP_SERVER_LIMITS): Server {
  const server = createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      // how often the two timeouts above are checked (Node's default, 30 s, would let a slow
      // client hold a connection up to 30 s past its bound)
      connectionsCheckingInterval: Math.max(100, Math.min(1_000, limits.headersTimeoutMs / 4)),
    },
    handler,
  );
  server.maxRequestsPerSocket = limits.maxRequestsPerSocket;
  server.maxConnections = limits.maxConnections;
  return server;
}

/** Starts `server` on `host:port`; resolves once it listens, rejects when it cannot. */
export function listenOn(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
}
