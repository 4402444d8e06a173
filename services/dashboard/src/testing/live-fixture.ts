import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { PROJECTION_DB } from "@trainyard/contracts";
import { connectNats, createLogger, ensureStreams } from "@trainyard/runtime";
import { startFerret, startNats, type Supervised } from "@trainyard/stack";
import { MongoClient, type Db } from "mongodb";
import { WebSocket } from "ws";
import { DEFAULT_UI_DIR, startDashboard, type Dashboard, type DashboardConfig } from "../dashboard.js";
import type { ClientMessage, ServerMessage } from "../job-wire.js";

// Shared by the dashboard's integration tests: real nats-server and FerretDB, the dashboard
// in-process, and a recorder of its /ws feed.

export const DEADLINE_MS = 20_000;

export interface Infra {
  natsUrl: string;
  mongoUrl: string;
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  mongo: MongoClient;
  db: Db;
  start(overrides?: Partial<DashboardConfig>): Promise<Dashboard>;
  stop(): Promise<void>;
}

export async function startInfra(): Promise<Infra> {
  const dir = await mkdtemp(join(tmpdir(), "trainyard-dashboard-"));
  const infra: Supervised[] = [];
  const dashboards: Dashboard[] = [];
  const nats = await startNats(join(dir, "nats"), () => undefined);
  infra.push(nats.process);
  const ferret = await startFerret(join(dir, "ferret"), () => undefined);
  infra.push(ferret.process);
  buildUiIfMissing();
  const mongo = await MongoClient.connect(ferret.url);
  const nc = await connectNats(nats.url, "dashboard-test");
  await ensureStreams(nc);
  return {
    natsUrl: nats.url,
    mongoUrl: ferret.url,
    nc,
    js: jetstream(nc),
    jsm: await jetstreamManager(nc),
    mongo,
    db: mongo.db(PROJECTION_DB),
    async start(overrides = {}) {
      const dashboard = await startDashboard({
        natsUrl: nats.url,
        mongoUrl: ferret.url,
        host: "127.0.0.1",
        port: 0,
        log: createLogger("dashboard", "warn"),
        missingJob: { attempts: 3, delayMs: 50 },
        ...overrides,
      });
      dashboards.push(dashboard);
      return {
        url: dashboard.url,
        async stop() {
          dashboards.splice(dashboards.indexOf(dashboard), 1);
          await dashboard.stop();
        },
      };
    },
    async stop() {
      for (const d of dashboards.splice(0)) await d.stop();
      await nc.drain();
      await mongo.close();
      for (const proc of infra.reverse()) await proc.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The root build builds the UI before the tests; build it here only when run on its own. */
function buildUiIfMissing(): void {
  if (existsSync(join(DEFAULT_UI_DIR, "index.html"))) return;
  const pkg = dirname(DEFAULT_UI_DIR);
  execFileSync(
    process.execPath,
    [join(pkg, "node_modules/vite/bin/vite.js"), "build", "--config", "vite.config.js", "--logLevel", "warn"],
    { cwd: pkg },
  );
}

/** Collects the /ws feed (with each message's size) and resolves waits as soon as a match is there. */
export class FeedRecorder {
  readonly messages: ServerMessage[] = [];
  readonly sizes: number[] = [];
  #waiters: Array<() => void> = [];

  constructor(readonly socket: WebSocket) {
    socket.on("message", (data: Buffer) => {
      this.sizes.push(data.length);
      this.messages.push(JSON.parse(data.toString("utf8")) as ServerMessage);
      for (const wake of this.#waiters) wake();
    });
  }

  send(message: ClientMessage): void {
    this.socket.send(JSON.stringify(message));
  }

  waitFor<T extends ServerMessage>(what: string, match: (m: ServerMessage) => m is T, from?: number): Promise<T>;
  waitFor(what: string, match: (m: ServerMessage) => boolean, from?: number): Promise<ServerMessage>;
  waitFor(what: string, match: (m: ServerMessage) => boolean, from = 0): Promise<ServerMessage> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.messages.slice(from).find(match);
        if (!found) return false;
        clearTimeout(timer);
        this.#waiters = this.#waiters.filter((w) => w !== wake);
        resolve(found);
        return true;
      };
      const wake = () => void check();
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== wake);
        const last = this.messages.slice(-12).map((m) => m.type);
        reject(
          new Error(
            `no ${what} on /ws within ${DEADLINE_MS} ms; ${this.messages.length} messages, the last: ${last.join(", ")}`,
          ),
        );
      }, DEADLINE_MS);
      if (!check()) this.#waiters.push(wake);
    });
  }

  close(): void {
    this.socket.close();
  }
}

export function openFeed(url: string, headers: Record<string, string> = {}): Promise<FeedRecorder> {
  const socket = new WebSocket(`${url.replace(/^http/, "ws")}/ws`, { headers });
  const feed = new FeedRecorder(socket);
  return new Promise((resolve, reject) => {
    socket.once("open", () => resolve(feed));
    socket.once("error", reject);
    socket.once("unexpected-response", (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
  });
}

export async function until<T>(what: string, probe: () => Promise<T | null | undefined>): Promise<T> {
  const deadline = Date.now() + DEADLINE_MS;
  for (;;) {
    const value = await probe();
    if (value !== null && value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${DEADLINE_MS} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A raw request, so paths reach the server exactly as written (fetch would normalize `..`). */
export function http(
  url: string,
  path: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string; onResponse?: () => void } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request(url + path, { method: opts.method ?? "GET", headers: opts.headers ?? {} }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      opts.onResponse?.();
      res.on("data", (chunk: string) => (body += chunk));
      const done = () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
      res.on("end", done);
      res.on("close", done);
    });
    req.on("error", reject);
    req.end(opts.body);
  });
}
