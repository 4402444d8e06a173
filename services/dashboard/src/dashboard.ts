import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { connectNats, ensureStreams, type Logger } from "@trainyard/runtime";
import { connectJobStore } from "./adapters/job-store.js";
import { createHttpHandler } from "./http.js";
import { attachLiveHub } from "./live-hub.js";
import { startProjector } from "./projector.js";

export interface DashboardConfig {
  natsUrl: string;
  mongoUrl: string;
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
  log: Logger;
  /** Folder of the built UI; by default `dist-ui/` of this package. */
  uiDir?: string;
}

export interface Dashboard {
  /** Base URL, e.g. http://127.0.0.1:8081 */
  url: string;
  stop(): Promise<void>;
}

/** The built UI next to the compiled service (`dist/` and `dist-ui/` are siblings). */
export const DEFAULT_UI_DIR = fileURLToPath(new URL("../dist-ui/", import.meta.url));

/**
 * Starts the projection consumer, the HTTP server and the live feed. If a step fails, the
 * earlier ones are stopped before the error is rethrown.
 */
export async function startDashboard(config: DashboardConfig): Promise<Dashboard> {
  const { log } = config;
  const stops: Array<() => Promise<void>> = [];
  const stopAll = async () => {
    for (const stop of stops.splice(0).reverse()) {
      await stop().catch((err: unknown) => log.error({ err }, "stop step failed"));
    }
  };
  try {
    const store = await connectJobStore(config.mongoUrl, log);
    stops.push(() => store.close());
    const nc = await connectNats(config.natsUrl, "dashboard");
    stops.push(() => nc.drain());
    const jsm = await ensureStreams(nc);

    const server = createServer(
      createHttpHandler({ store, log, uiDir: config.uiDir ?? DEFAULT_UI_DIR, natsConnected: () => !nc.isClosed() }),
    );
    const hub = attachLiveHub(server, { store, log });
    await listen(server, config.host, config.port);
    stops.push(() => closeServer(server));
    stops.push(() => hub.close());

    const projector = await startProjector({ jsm, js: jsm.jetstream() }, { store, hub, log });
    stops.push(() => projector.stop());

    const { port } = server.address() as AddressInfo;
    const url = `http://${config.host.includes(":") ? `[${config.host}]` : config.host}:${port}`;
    log.info({ url }, "dashboard listening");
    return { url, stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((err) => (err ? reject(err) : resolve()));
    server.closeIdleConnections();
  });
}
