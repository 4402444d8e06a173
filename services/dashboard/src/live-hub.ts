import type { IncomingMessage, Server } from "node:http";
import type { Duplex } from "node:stream";
import type { JobRecord } from "@trainyard/contracts";
import type { Logger } from "@trainyard/runtime";
import { WebSocketServer, type WebSocket } from "ws";
import type { JobStore } from "./adapters/job-store.js";
import { toDetail, toSummary, type LiveMessage } from "./job-wire.js";

export const LIVE_PATH = "/ws";
/** How many jobs the snapshot lists, newest first (the overview's list). */
export const SNAPSHOT_LIMIT = 100;
const PING_INTERVAL_MS = 30_000;
/** A browser that reads slower than this much queued output is dropped; it reconnects and resyncs. */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;

export interface LiveHub {
  /** Pushes a changed job to every browser. Never throws: a lost push must not stall the projection. */
  jobChanged(record: JobRecord): Promise<void>;
  close(): Promise<void>;
}

interface Client {
  socket: WebSocket;
  /** Messages held back until the client's snapshot is out, so nothing precedes it. */
  pending: string[] | null;
  alive: boolean;
}

/** Serves the live feed on `path` of `server`: a snapshot on connect, then each changed job. */
export function attachLiveHub(server: Server, deps: { store: JobStore; log: Logger }): LiveHub {
  const { store, log } = deps;
  const wss = new WebSocketServer({ noServer: true, maxPayload: 4096 });
  const clients = new Set<Client>();

  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (pathOf(req) !== LIVE_PATH) return refuse(socket, "404 Not Found");
    if (!sameOrigin(req)) return refuse(socket, "403 Forbidden");
    wss.handleUpgrade(req, socket, head, (ws) => void welcome(ws));
  });

  async function welcome(socket: WebSocket): Promise<void> {
    const client: Client = { socket, pending: [], alive: true };
    clients.add(client);
    socket.on("close", () => clients.delete(client));
    socket.on("pong", () => (client.alive = true));
    socket.on("error", (err) => log.warn({ err }, "live client error"));
    try {
      const [jobs, counts] = await Promise.all([store.listNewest(SNAPSHOT_LIMIT), store.countByStatus()]);
      send(client, encode({ type: "snapshot", jobs: jobs.map(toSummary), counts }));
      const held = client.pending ?? [];
      client.pending = null;
      for (const message of held) send(client, message);
    } catch (err) {
      log.error({ err }, "live snapshot failed");
      socket.close(1011, "snapshot failed");
    }
  }

  function send(client: Client, message: string): void {
    if (client.socket.readyState !== client.socket.OPEN) return;
    if (client.socket.bufferedAmount > MAX_BUFFERED_BYTES) {
      log.warn("live client too slow; dropped");
      client.socket.terminate();
      return;
    }
    client.socket.send(message);
  }

  // Ends connections that went away without a close frame (a sleeping laptop, a dropped network).
  const heartbeat = setInterval(() => {
    for (const client of clients) {
      if (!client.alive) {
        client.socket.terminate();
        continue;
      }
      client.alive = false;
      client.socket.ping();
    }
  }, PING_INTERVAL_MS);
  heartbeat.unref();

  return {
    async jobChanged(record) {
      if (clients.size === 0) return;
      try {
        const message = encode({ type: "job", job: toDetail(record), counts: await store.countByStatus() });
        for (const client of clients) {
          if (client.pending) client.pending.push(message);
          else send(client, message);
        }
      } catch (err) {
        log.error({ err, job_id: record._id }, "live push failed");
      }
    },
    async close() {
      clearInterval(heartbeat);
      for (const client of clients) client.socket.close(1001, "dashboard stopping");
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      for (const client of clients) client.socket.terminate();
    },
  };
}

function encode(message: LiveMessage): string {
  return JSON.stringify(message);
}

function pathOf(req: IncomingMessage): string {
  return new URL(req.url ?? "/", "http://dashboard").pathname;
}

/**
 * Browsers send Origin on a WebSocket upgrade and apply no CORS to it, so a foreign page could
 * otherwise read the feed. Clients that send no Origin (tools, tests) are not browsers.
 */
function sameOrigin(req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}

function refuse(socket: Duplex, status: string): void {
  socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}
