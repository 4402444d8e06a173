import { mkdirSync, writeFileSync } from "node:fs";
import { renderNatsConfig, type NatsServerConfig } from "./nats-auth.js";
import { join, relative } from "node:path";
import { freePort, supervise, toolPath, waitForPort, type LineSink, type Supervised } from "./processes.js";

export interface Infra {
  natsUrl: string;
  mongoUrl: string;
  processes: Supervised[];
}

export interface NatsOptions {
  /** The `auth.conf` from `writeNatsCredentials`; none leaves the server open (bare test servers). */
  authConf?: string | undefined;
  /** Process and server name; `nats` by default. */
  name?: string;
  /** Serve clients over TLS (see `NatsServerConfig.tls`). */
  tls?: NatsServerConfig["tls"];
}

/** One nats-server of a stack: a single server or a cluster node. */
export interface NatsNode {
  name: string;
  url: string;
  /** The monitoring endpoint (`/jsz`, `/varz`). */
  monitorUrl: string;
  /** The running process; replaced by `start()`. */
  process: Supervised;
  /** Starts the node again with the same ports and store (after a kill). */
  start(): Promise<Supervised>;
}

/** Writes a node's config and returns its handle; `start()` launches it. */
function natsNode(
  dir: string,
  config: Omit<NatsServerConfig, "storeDir">,
  sink: LineSink | undefined,
  monitorPort: number,
): NatsNode {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, "nats.conf");
  // nats-server resolves an include relative to the including file
  const authConf = config.authConf ? relative(dir, config.authConf) : undefined;
  writeFileSync(file, renderNatsConfig({ ...config, authConf, storeDir: dir, monitorPort }));
  const node: NatsNode = {
    name: config.serverName,
    url: `nats://127.0.0.1:${config.port}`,
    monitorUrl: `http://127.0.0.1:${monitorPort}`,
    process: undefined as unknown as Supervised,
    async start() {
      const proc = supervise(config.serverName, toolPath("nats-server"), ["-c", file], { ...(sink ? { sink } : {}) });
      node.process = proc;
      const exited = proc.exited.then((code) => {
        throw new Error(`${config.serverName} exited during start-up (code ${code})`);
      });
      await Promise.race([
        waitForPort("127.0.0.1", config.port, 20_000, config.serverName).then(() =>
          waitForHealthy(node.monitorUrl, 60_000),
        ),
        exited,
      ]);
      exited.catch(() => undefined);
      return proc;
    },
  };
  return node;
}

/** Starts nats-server with JetStream, storing in `dir`. */
export async function startNats(
  dir: string,
  sink?: LineSink,
  port?: number,
  opts: NatsOptions = {},
): Promise<{ url: string; process: Supervised; node: NatsNode }> {
  const [p, monitorPort] = [port ?? (await freePort()), await freePort()];
  const node = natsNode(
    dir,
    { serverName: opts.name ?? "nats", port: p, authConf: opts.authConf, tls: opts.tls },
    sink,
    monitorPort,
  );
  await node.start();
  return { url: node.url, process: node.process, node };
}

export interface NatsCluster {
  /** Every node's client URL, comma separated: what NATS_URL gets. */
  url: string;
  nodes: NatsNode[];
}

/**
 * Starts a local NATS cluster of `size` nodes (3 by default), each with its own client, route and
 * monitoring ports and store folder under `dir`, every node routing to the others. Resolves once
 * a JetStream meta leader is elected, so R3 streams can be created right away.
 */
export async function startNatsCluster(
  dir: string,
  sink?: LineSink,
  opts: { size?: number; authConf?: string | undefined } = {},
): Promise<NatsCluster> {
  const size = opts.size ?? 3;
  const ports = await Promise.all(Array.from({ length: size * 3 }, () => freePort()));
  const specs = Array.from({ length: size }, (_, i) => ({
    name: `nats-${i + 1}`,
    port: ports[3 * i] as number,
    routePort: ports[3 * i + 1] as number,
    monitorPort: ports[3 * i + 2] as number,
  }));
  const nodes = specs.map((spec) =>
    natsNode(
      join(dir, spec.name),
      {
        serverName: spec.name,
        port: spec.port,
        authConf: opts.authConf,
        cluster: {
          name: "trainyard",
          port: spec.routePort,
          routes: specs.filter((o) => o !== spec).map((o) => `nats-route://127.0.0.1:${o.routePort}`),
        },
      },
      sink,
      spec.monitorPort,
    ),
  );
  await Promise.all(nodes.map((n) => n.start()));
  return { url: nodes.map((n) => n.url).join(","), nodes };
}

/**
 * Waits until the node's `/healthz` answers ok: JetStream is up and, in a cluster, the node has
 * joined a meta leader and caught up with its streams.
 */
export async function waitForHealthy(monitorUrl: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  for (;;) {
    const ok = await fetch(`${monitorUrl}/healthz`)
      .then(async (r) => ((last = await r.text()), r.ok))
      .catch(() => false);
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${monitorUrl}/healthz not ok within ${timeoutMs} ms: ${last}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The Mongo-wire server of a stack, restartable on the same port and files. */
export interface FerretServer {
  url: string;
  /** The running process; replaced by `start()`. */
  process: Supervised;
  /** Starts FerretDB again with the same port and data (after a kill). */
  start(): Promise<Supervised>;
}

/** Starts FerretDB (MongoDB wire protocol) on SQLite files in `dir`, telemetry disabled. */
export async function startFerret(
  dir: string,
  sink?: LineSink,
  port?: number,
): Promise<{ url: string; process: Supervised; server: FerretServer }> {
  const p = port ?? (await freePort());
  mkdirSync(join(dir, "data"), { recursive: true });
  const server: FerretServer = {
    url: `mongodb://127.0.0.1:${p}/`,
    process: undefined as unknown as Supervised,
    async start() {
      const proc = supervise(
        "ferretdb",
        toolPath("ferretdb"),
        [
          "--handler=sqlite",
          `--sqlite-url=file:${join(dir, "data")}/`,
          `--listen-addr=127.0.0.1:${p}`,
          `--state-dir=${dir}`,
          "--telemetry=disable",
          "--debug-addr=-",
          "--log-level=WARN",
        ],
        { ...(sink ? { sink } : {}) },
      );
      server.process = proc;
      await waitForPort("127.0.0.1", p, 20_000, "ferretdb");
      return proc;
    },
  };
  await server.start();
  return { url: server.url, process: server.process, server };
}
