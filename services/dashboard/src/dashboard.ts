import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import {
  AGENT_HEARTBEAT_TTL_MS,
  connectNats,
  createHttpServer,
  ensureStreams,
  listenOn,
  watchQueue,
  type Logger,
  type NatsAuth,
  type TrustProxy,
} from "@trainyard/runtime";
import { MongoClient } from "mongodb";
import { Access, LoginLimiter } from "./access.js";
import { Gate } from "./gate.js";
import { AgentDirectory } from "./agent-directory.js";
import { openAgentStore } from "./adapters/agent-store.js";
import { watchAgents } from "./adapters/agent-watch.js";
import { openDeliveryLog } from "./adapters/delivery-log.js";
import { gatewayClient } from "./adapters/gateway-client.js";
import { openJobStore } from "./adapters/job-store.js";
import { FileLinks } from "./file-links.js";
import { HealthMonitor } from "./health-monitor.js";
import { createHttpHandler } from "./http.js";
import { attachLiveHub, type LiveHubOptions } from "./live-hub.js";
import { loadOverview } from "./overview.js";
import { ProgressStreams } from "./progress-stream.js";
import { DEFAULT_MISSING_JOB, JobCache, startProjector } from "./projector.js";
import { QueueBoard } from "./queue-board.js";
import { pageCsp } from "./static-files.js";

export interface DashboardConfig {
  natsUrl: string;
  /** Credentials of the `dashboard` NATS user; none on a development server. */
  natsAuth?: NatsAuth;
  mongoUrl: string;
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
  log: Logger;
  /** DASHBOARD_TOKEN; null leaves the dashboard open for reading, with cancel and downloads refused. */
  token?: string | null;
  /** DASHBOARD_TRUST_PROXY: which proxies to believe about the client's address (false by default). */
  trustProxy?: TrustProxy;
  /** Host names the dashboard answers to besides IP addresses and localhost (DASHBOARD_PUBLIC_URL's host). */
  publicHosts?: readonly string[];
  sessionTtlMs?: number;
  /** Where cancel requests go; null hides the cancel button. */
  gateway?: { url: string; token: string } | null;
  /** How download links are signed; null hides the download buttons and plots. */
  downloads?: { publicBaseUrl: string; secret: string } | null;
  appUrlTemplate?: string | null;
  fallbackJobSeconds?: number;
  /** Changes to the queue's estimates within this many milliseconds make one refresh (500 by default). */
  queueSettleMs?: number;
  /** Folder of the built UI; by default `dist-ui/` of this package. */
  uiDir?: string;
  live?: Partial<LiveHubOptions>;
  healthIntervalMs?: number;
  missingJob?: { attempts: number; delayMs: number };
}

export interface Dashboard {
  /** Base URL, e.g. http://127.0.0.1:8081 */
  url: string;
  stop(): Promise<void>;
}

/** The built UI next to the compiled service (`dist/` and `dist-ui/` are siblings). */
export const DEFAULT_UI_DIR = fileURLToPath(new URL("../dist-ui/", import.meta.url));
const AGENT_SWEEP_MS = 5_000;

/**
 * Starts the projection consumers, the agents watch, the HTTP server, the live feed and the
 * progress streams. If a step fails, the earlier ones are stopped before the error is rethrown.
 */
export async function startDashboard(config: DashboardConfig): Promise<Dashboard> {
  const { log } = config;
  const stops: Array<() => Promise<void> | void> = [];
  const stopAll = async () => {
    for (const stop of stops.splice(0).reverse()) {
      await Promise.resolve(stop()).catch((err: unknown) => log.error({ err }, "stop step failed"));
    }
  };
  try {
    const mongo = await MongoClient.connect(config.mongoUrl, { serverSelectionTimeoutMS: 10_000 });
    stops.push(() => mongo.close());
    const store = await openJobStore(mongo, log);
    const deliveries = openDeliveryLog(mongo, log);
    const nc = await connectNats(config.natsUrl, "dashboard", config.natsAuth);
    stops.push(() => nc.drain());
    const jsm = await ensureStreams(nc);

    const access = new Access({ token: config.token ?? null, sessionTtlMs: config.sessionTtlMs ?? 12 * 3600_000 });
    if (!access.required) {
      log.warn("DASHBOARD_TOKEN is not set: anyone who reaches the dashboard reads it; cancel and downloads are off");
    }
    const gate = new Gate({
      access,
      limiter: new LoginLimiter(10, 5 * 60_000),
      trustProxy: config.trustProxy ?? false,
      publicHosts: config.publicHosts ?? [],
    });
    const links = config.downloads ? new FileLinks(config.downloads) : null;
    const gateway = config.gateway
      ? gatewayClient({ ...config.gateway, baseUrl: config.gateway.url, timeoutMs: 10_000 })
      : null;

    // The hub is created with the server below and the queue board after the agents; these forward once they exist.
    const hubRef: { hub?: ReturnType<typeof attachLiveHub>; board?: QueueBoard } = {};
    const health = new HealthMonitor(
      { mongo: () => store.ping(), nats: () => !nc.isClosed() },
      (h) => hubRef.hub?.healthChanged(h),
      config.healthIntervalMs ?? 10_000,
    );
    stops.push(() => health.stop());
    const agents = new AgentDirectory({
      store: openAgentStore(mongo, log),
      log,
      ttlMs: AGENT_HEARTBEAT_TTL_MS,
      changed: (views) => {
        hubRef.hub?.agentsChanged(views);
        hubRef.board?.invalidate();
      },
    });
    await agents.load();
    const queue = await watchQueue(nc, { changed: () => hubRef.board?.invalidate() });
    stops.push(() => queue.stop());
    const board = new QueueBoard({
      queue,
      readInputs: (recent) => store.queueInputs(recent),
      slots: () =>
        agents
          .views()
          .filter((a) => a.online && !a.draining)
          .reduce((n, a) => n + a.slots.length, 0),
      fallbackJobSeconds: config.fallbackJobSeconds ?? 1800,
      changed: (view) => hubRef.hub?.queueChanged(view),
      log,
      settleMs: config.queueSettleMs ?? 500,
    });
    hubRef.board = board;
    stops.push(() => board.stop());
    await board.refresh();
    const overview = () =>
      loadOverview({
        store,
        agents: () => agents.views(),
        health: () => health.current,
        queue: () => board.view(),
      });
    const streams = new ProgressStreams({ log, modelUrl: (record) => links?.link(record, "model") ?? null });

    // bounded: headers within 10 s, a request within 60 s, at most 1 024 connections
    const server = createHttpServer(
      createHttpHandler({
        store,
        deliveries,
        access,
        gate,
        overview,
        health: () => health.refresh(),
        gateway,
        links,
        appUrlTemplate: config.appUrlTemplate ?? null,
        streams,
        async refreshJob(jobId) {
          const record = await store.get(jobId);
          if (record) await hubRef.hub?.jobChanged(record, true);
        },
        log,
        uiDir: config.uiDir ?? DEFAULT_UI_DIR,
        csp: pageCsp(links ? new URL(config.downloads?.publicBaseUrl ?? "").origin : null),
      }),
    );
    const liveHub = attachLiveHub(server, {
      store,
      deliveries,
      overview,
      gate,
      log,
      ...(config.live ? { options: config.live } : {}),
    });
    hubRef.hub = liveHub;
    await listenOn(server, config.host, config.port);
    stops.push(() => closeServer(server));
    // Open streams and sockets end before the server closes, which waits for every connection.
    stops.push(() => liveHub.close());
    stops.push(() => streams.close());

    const watch = await watchAgents(nc, agents, log);
    stops.push(() => watch.stop());
    const sweep = setInterval(() => agents.sweep(), AGENT_SWEEP_MS);
    sweep.unref();
    stops.push(() => clearInterval(sweep));

    const projector = await startProjector(
      { jsm, js: jsm.jetstream() },
      {
        store,
        cache: new JobCache(),
        log,
        listeners: [
          liveHub,
          { jobChanged: (record) => streams.jobChanged(record), epochRecorded: () => undefined },
          {
            // a job's status or ETA moves the estimates; other progress does not
            jobChanged: (record, statusChanged) => {
              if (statusChanged || record.status === "training") board.invalidate();
            },
            epochRecorded: () => undefined,
          },
        ],
        missingJob: config.missingJob ?? DEFAULT_MISSING_JOB,
      },
    );
    stops.push(() => projector.stop());

    const { port } = server.address() as AddressInfo;
    const url = `http://${config.host.includes(":") ? `[${config.host}]` : config.host}:${port}`;
    log.info(
      { url, login: access.required, cancel: gateway !== null, downloads: links !== null },
      "dashboard listening",
    );
    return { url, stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((err) => (err ? reject(err) : resolve()));
    server.closeIdleConnections();
  });
}
