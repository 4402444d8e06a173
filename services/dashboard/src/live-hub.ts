import type { IncomingMessage, Server } from "node:http";
import type { Duplex } from "node:stream";
import type { Logger } from "@trainyard/runtime";
import { WebSocketServer, type WebSocket } from "ws";
import { z } from "zod";
import type { Gate } from "./gate.js";
import type { DeliveryLog } from "./adapters/delivery-log.js";
import type { JobStore } from "./adapters/job-store.js";
import type { AgentView } from "./agents.js";
import { sameOrigin } from "./http-io.js";
import {
  toDeliveryView,
  toDetail,
  toPoint,
  toSummary,
  type DeliveryView,
  type Health,
  type Overview,
  type QueueView,
  type ServerMessage,
} from "./job-wire.js";
import type { EpochRecord, ProjectedJob } from "./projected-job.js";

export const LIVE_PATH = "/ws";

export interface LiveHubOptions {
  /** How often a silent client is pinged; one that missed the previous pong is dropped. */
  pingIntervalMs: number;
  /** How often the delivery log of subscribed jobs is re-read (the notifier writes it, not us). */
  deliveryPollMs: number;
  /** A client whose socket holds more unsent bytes than this is dropped; it reconnects and resyncs. */
  maxBufferedBytes: number;
  /** Messages waiting behind a snapshot; more means the client cannot keep up, so it is dropped. */
  maxQueuedMessages: number;
  /** Jobs one client may follow at once. */
  maxSubscriptions: number;
}

export const DEFAULT_LIVE_OPTIONS: LiveHubOptions = {
  pingIntervalMs: 30_000,
  deliveryPollMs: 2_000,
  maxBufferedBytes: 1024 * 1024,
  maxQueuedMessages: 1_000,
  maxSubscriptions: 20,
};

export interface LiveHubDeps {
  store: JobStore;
  deliveries: DeliveryLog;
  overview(): Promise<Overview>;
  gate: Gate;
  log: Logger;
  options?: Partial<LiveHubOptions>;
}

/** What the projection and the watchers tell the browsers. Never throws: a lost push must not stall them. */
export interface LiveHub {
  jobChanged(record: ProjectedJob, statusChanged: boolean): Promise<void>;
  epochRecorded(point: EpochRecord): void;
  agentsChanged(agents: AgentView[]): void;
  queueChanged(queue: QueueView): void;
  healthChanged(health: Health): void;
  close(): Promise<void>;
}

const ClientMessage = z.discriminatedUnion("type", [
  z.object({ type: z.literal("subscribe"), job_id: z.uuid(), since_seq: z.int().min(0).optional() }),
  z.object({ type: z.literal("unsubscribe"), job_id: z.uuid() }),
]);

/** A message to send, or a snapshot to read first (everything queued after it waits for it). */
type Outgoing = string | (() => Promise<ServerMessage[]>);

interface Client {
  socket: WebSocket;
  alive: boolean;
  queue: Outgoing[];
  pumping: boolean;
  /** Followed jobs → fingerprint of the delivery log last sent. */
  subscriptions: Map<string, string>;
}

/**
 * The /ws live feed. On connect a client gets the overview; then every changed job (summaries),
 * queue, agent and health update. A client that subscribes to a job gets its snapshot (detail, history
 * rows since the sequence it already has, callback log), then each change, epoch and delivery of
 * that job. Messages go out in order; a snapshot holds back what was queued after it, so nothing
 * reaches a client before the snapshot it builds on.
 */
export function attachLiveHub(server: Server, deps: LiveHubDeps): LiveHub {
  const { store, log } = deps;
  const opts = { ...DEFAULT_LIVE_OPTIONS, ...deps.options };
  const wss = new WebSocketServer({ noServer: true, maxPayload: 4096 });
  const clients = new Set<Client>();

  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (!deps.gate.hostAllowed(req)) return refuse(socket, "421 Misdirected Request");
    if (pathOf(req) !== LIVE_PATH) return refuse(socket, "404 Not Found");
    // Browsers apply no CORS to a WebSocket upgrade, so a foreign page could otherwise read the feed.
    if (!sameOrigin(req)) return refuse(socket, "403 Forbidden");
    const verdict = deps.gate.authorize(req);
    if (verdict === "throttled") return refuse(socket, "429 Too Many Requests");
    if (verdict === "unauthorized") return refuse(socket, "401 Unauthorized");
    const release = deps.gate.openLive(req, "ws");
    if (!release) return refuse(socket, "429 Too Many Requests");
    socket.once("close", release);
    wss.handleUpgrade(req, socket, head, (ws) => welcome(ws, release));
  });

  function welcome(socket: WebSocket, release: () => void): void {
    const client: Client = { socket, alive: true, queue: [], pumping: false, subscriptions: new Map() };
    clients.add(client);
    socket.on("close", () => {
      clients.delete(client);
      release();
    });
    socket.on("pong", () => (client.alive = true));
    socket.on("error", (err) => log.warn({ err }, "live client error"));
    socket.on("message", (data: Buffer) => received(client, data));
    enqueue(client, async () => [{ type: "overview", overview: await deps.overview() }]);
  }

  function received(client: Client, data: Buffer): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(data.toString("utf8"));
    } catch {
      parsed = null;
    }
    const message = ClientMessage.safeParse(parsed);
    if (!message.success) {
      client.socket.close(1008, "unknown message");
      return;
    }
    const { job_id: jobId } = message.data;
    if (message.data.type === "unsubscribe") {
      client.subscriptions.delete(jobId);
      return;
    }
    if (!client.subscriptions.has(jobId) && client.subscriptions.size >= opts.maxSubscriptions) {
      client.socket.close(1008, "too many subscriptions");
      return;
    }
    // Marked at once, so that every change queued from now on follows the snapshot.
    client.subscriptions.set(jobId, "");
    const sinceSeq = message.data.since_seq ?? 0;
    enqueue(client, async () => {
      const record = await store.get(jobId);
      if (!record) {
        client.subscriptions.delete(jobId);
        return [{ type: "job_missing", job_id: jobId }];
      }
      const [points, deliveries] = await Promise.all([
        store.epochs(jobId, sinceSeq),
        deps.deliveries.forJobs([jobId]).then((all) => (all.get(jobId) ?? []).map(toDeliveryView)),
      ]);
      if (client.subscriptions.has(jobId)) client.subscriptions.set(jobId, fingerprint(deliveries));
      return [
        { type: "job_snapshot", job: toDetail(record), since_seq: sinceSeq, points: points.map(toPoint), deliveries },
      ];
    });
  }

  function enqueue(client: Client, item: Outgoing): void {
    if (client.queue.length >= opts.maxQueuedMessages) {
      log.warn({ queued: client.queue.length }, "live client cannot keep up; dropped");
      client.socket.terminate();
      return;
    }
    client.queue.push(item);
    void pump(client);
  }

  async function pump(client: Client): Promise<void> {
    if (client.pumping) return;
    client.pumping = true;
    try {
      for (let item = client.queue.shift(); item !== undefined; item = client.queue.shift()) {
        if (typeof item === "string") write(client, item);
        else for (const message of await item()) write(client, JSON.stringify(message));
      }
    } catch (err) {
      log.error({ err }, "live snapshot failed");
      client.queue = [];
      client.socket.close(1011, "snapshot failed");
    } finally {
      client.pumping = false;
    }
  }

  function write(client: Client, text: string): void {
    const { socket } = client;
    if (socket.readyState !== socket.OPEN) return;
    if (socket.bufferedAmount > opts.maxBufferedBytes) {
      log.warn({ buffered: socket.bufferedAmount }, "live client reads too slowly; dropped");
      socket.terminate();
      return;
    }
    socket.send(text);
  }

  function broadcast(message: ServerMessage, to: (client: Client) => boolean = () => true): void {
    let text: string | undefined;
    for (const client of clients) {
      if (!to(client)) continue;
      text ??= JSON.stringify(message);
      enqueue(client, text);
    }
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
  }, opts.pingIntervalMs);
  heartbeat.unref();

  let polling = false;
  const deliveryPoll = setInterval(() => {
    if (polling) return;
    polling = true;
    pollDeliveries()
      .catch((err: unknown) => log.warn({ err }, "delivery log poll failed"))
      .finally(() => (polling = false));
  }, opts.deliveryPollMs);
  deliveryPoll.unref();

  async function pollDeliveries(): Promise<void> {
    const followed = new Set<string>();
    for (const client of clients) for (const jobId of client.subscriptions.keys()) followed.add(jobId);
    if (followed.size === 0) return;
    const logs = await deps.deliveries.forJobs([...followed]);
    for (const [jobId, list] of logs) {
      const deliveries = list.map(toDeliveryView);
      const key = fingerprint(deliveries);
      for (const client of clients) {
        const sent = client.subscriptions.get(jobId);
        // "" means its snapshot is still on the way; it carries the log itself
        if (sent === undefined || sent === "" || sent === key) continue;
        client.subscriptions.set(jobId, key);
        enqueue(client, JSON.stringify({ type: "deliveries", job_id: jobId, deliveries } satisfies ServerMessage));
      }
    }
  }

  return {
    async jobChanged(record, statusChanged) {
      if (clients.size === 0) return;
      try {
        const counts = statusChanged ? await store.countByStatus() : undefined;
        broadcast({ type: "job", job: toSummary(record), ...(counts ? { counts } : {}) });
        broadcast({ type: "job_detail", job: toDetail(record) }, (c) => c.subscriptions.has(record._id));
      } catch (err) {
        log.error({ err, job_id: record._id }, "live push failed");
      }
    },
    epochRecorded(point) {
      broadcast({ type: "epoch", job_id: point.job_id, point: toPoint(point) }, (c) =>
        c.subscriptions.has(point.job_id),
      );
    },
    agentsChanged(agents) {
      broadcast({ type: "agents", agents });
    },
    queueChanged(queue) {
      broadcast({ type: "queue", queue });
    },
    healthChanged(health) {
      broadcast({ type: "health", health });
    },
    async close() {
      clearInterval(heartbeat);
      clearInterval(deliveryPoll);
      for (const client of clients) client.socket.close(1001, "dashboard stopping");
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      for (const client of clients) client.socket.terminate();
    },
  };
}

/** Changes whenever a delivery is added or moves on. */
function fingerprint(deliveries: DeliveryView[]): string {
  return JSON.stringify(deliveries.map((d) => [d.id, d.revision]));
}

function pathOf(req: IncomingMessage): string {
  return new URL(req.url ?? "/", "http://dashboard").pathname;
}

function refuse(socket: Duplex, status: string): void {
  socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}
