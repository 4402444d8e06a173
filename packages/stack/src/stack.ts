import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { agentUser } from "@trainyard/contracts";
import { startFerret, startNats, startNatsCluster, type FerretServer, type NatsNode } from "./infra.js";
import { writeNatsCredentials, type NatsCredentials } from "./nats-auth.js";
import { privateDir } from "./private-files.js";
import {
  freePort,
  prefixedSink,
  repoRoot,
  supervise,
  waitForPort,
  type LineSink,
  type Supervised,
} from "./processes.js";

export interface StackOptions {
  /** Working folder: NATS and FerretDB data, agent work dirs. */
  runDir: string;
  /** Use these servers instead of starting local ones (NATS_URL / MONGO_URL). */
  natsUrl?: string | undefined;
  mongoUrl?: string | undefined;
  gatewayPort?: number;
  dashboardPort?: number;
  apiSecret?: string;
  /** The dashboard's operator token (DASHBOARD_TOKEN); generated when not given. */
  dashboardToken?: string;
  /** Allow datasets and callbacks on loopback/private addresses (local runs; never in production). */
  allowPrivateUrls?: boolean;
  sink?: LineSink;
  /** Extra variables for every service. */
  env?: Record<string, string>;
  /** Trainer-agents to start (`local-1`, `local-2`, …); 1 by default. */
  agents?: number;
  /** Scheduler replicas to start; 1 by default. */
  schedulers?: number;
  /**
   * A local 3-node NATS cluster (every stream, bucket and store R3) instead of one server; also
   * `TRAINYARD_NATS_CLUSTER=true` for the launcher.
   */
  cluster?: boolean;
}

export interface Stack {
  gatewayUrl: string;
  dashboardUrl: string;
  natsUrl: string;
  mongoUrl: string;
  apiSecret: string;
  /** The dashboard's operator token: log in with it, or send it as a bearer token. */
  dashboardToken: string;
  /** The NATS the stack started: its nodes (one, or three in a cluster) and the credentials folder. */
  nats: {
    nodes: NatsNode[];
    credentials: NatsCredentials | null;
    /** Issues a credential for a new agent and reloads every node; returns its seed file. */
    addAgent(agentId: string): Promise<string>;
  };
  /** The FerretDB the stack started; null when `mongoUrl` named another server. */
  ferret: FerretServer | null;
  /** The launcher's trainer-agents: id, process name and work dir. */
  agents: StackAgent[];
  /** The dataset service's scratch folder (`DATASET_WORK_DIR`). */
  datasetWorkDir: string;
  processes: Supervised[];
  /** `fetch` of a gateway path with the API token (and a JSON content type). */
  api(path: string, init?: RequestInit): Promise<Response>;
  /** `fetch` of a dashboard path (`/api/jobs/{id}`) with the operator token. */
  dashboardApi(path: string): Promise<Response>;
  /**
   * Stops the named process (SIGTERM, or SIGKILL when `hard`) and starts it again with the same
   * settings; `duringOutage` runs while it is down. Resolves once the new process is ready. Besides
   * the services, `ferretdb` and the NATS nodes (`nats`, or `nats-1`… in a cluster) restart on the
   * same ports and files.
   */
  restart(name: string, opts?: { hard?: boolean; duringOutage?: () => Promise<void> }): Promise<Supervised>;
  stop(): Promise<void>;
}

/** One trainer-agent the launcher started. */
export interface StackAgent {
  agentId: string;
  /** Its process name in `processes` and the logs (`trainer-agent` for local-1, else `agent-<id>`). */
  name: string;
  /** Its `AGENT_WORK_DIR`: job folders and the dataset cache. */
  workDir: string;
}

interface ServiceSpec {
  /** Log prefix and process name. */
  name: string;
  service: "gateway" | "dataset" | "scheduler" | "notifier" | "dashboard" | "trainer-agent";
  env: Record<string, string>;
}

/** The processes of a stack: one of each service, `agents` trainer-agents, `schedulers` scheduler replicas. */
function serviceSpecs(
  runDir: string,
  agents: number,
  schedulers: number,
  seedFiles: Record<string, string> | undefined,
): ServiceSpec[] {
  // each service connects as its own NATS user
  const creds = (user: string): Record<string, string> =>
    seedFiles?.[user] ? { NATS_NKEY_SEED_FILE: seedFiles[user] } : {};
  const specs: ServiceSpec[] = [
    { name: "gateway", service: "gateway", env: creds("gateway") },
    { name: "dataset", service: "dataset", env: creds("dataset") },
    { name: "notifier", service: "notifier", env: creds("notifier") },
    { name: "dashboard", service: "dashboard", env: creds("dashboard") },
  ];
  for (let i = 1; i <= schedulers; i++) {
    specs.push({
      name: i === 1 ? "scheduler" : `scheduler-${i}`,
      service: "scheduler",
      env: { SCHEDULER_REPLICA_ID: `scheduler-${i}`, ...creds("scheduler") },
    });
  }
  for (const { agentId, name, workDir } of stackAgents(runDir, agents)) {
    specs.push({
      name,
      service: "trainer-agent",
      env: { AGENT_ID: agentId, AGENT_WORK_DIR: workDir, ...creds(agentUser(agentId)) },
    });
  }
  return specs;
}

const localAgentIds = (agents: number) => Array.from({ length: agents }, (_, i) => `local-${i + 1}`);

/** The agents `serviceSpecs` starts, by id, process name and work dir. */
function stackAgents(runDir: string, agents: number): StackAgent[] {
  return localAgentIds(agents).map((agentId) => ({
    agentId,
    name: agentId === "local-1" ? "trainer-agent" : `agent-${agentId}`,
    workDir: join(runDir, `agent-${agentId}`),
  }));
}

/** Starts NATS, FerretDB (unless external URLs are given), the six services and one local trainer-agent. */
export async function startStack(opts: StackOptions): Promise<Stack> {
  const sink = opts.sink ?? prefixedSink;
  privateDir(opts.runDir);
  const processes: Supervised[] = [];
  const stop = async () => {
    for (const p of [...processes].reverse()) await p.stop();
  };
  try {
    let natsUrl = opts.natsUrl;
    let credentials: NatsCredentials | null = null;
    let nodes: NatsNode[] = [];
    if (!natsUrl) {
      // a stack that starts its own NATS secures it: one user per service, least privilege
      credentials = writeNatsCredentials(join(opts.runDir, "nats-auth"), localAgentIds(opts.agents ?? 1));
      if (opts.cluster) {
        const cluster = await startNatsCluster(join(opts.runDir, "nats-cluster"), sink, {
          authConf: credentials.authConf,
        });
        nodes = cluster.nodes;
        natsUrl = cluster.url;
      } else {
        const nats = await startNats(join(opts.runDir, "nats"), sink, undefined, { authConf: credentials.authConf });
        nodes = [nats.node];
        natsUrl = nats.url;
      }
      for (const node of nodes) processes.push(node.process);
      await provision(natsUrl, credentials.seedFiles.admin, opts.cluster ? 3 : 1, sink, opts.env);
    }
    let mongoUrl = opts.mongoUrl;
    let ferret: FerretServer | null = null;
    if (!mongoUrl) {
      ferret = (await startFerret(join(opts.runDir, "ferretdb"), sink)).server;
      processes.push(ferret.process);
      mongoUrl = ferret.url;
    }
    const datasetWorkDir = join(opts.runDir, "dataset");
    const gatewayPort = opts.gatewayPort ?? (await freePort());
    const dashboardPort = opts.dashboardPort ?? (await freePort());
    const apiSecret = opts.apiSecret ?? randomBytes(24).toString("base64url");
    // without one the dashboard refuses cancel and downloads, so the launcher always sets one
    const dashboardToken = opts.env?.DASHBOARD_TOKEN ?? opts.dashboardToken ?? randomBytes(24).toString("base64url");
    const gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
    const python = join(repoRoot, ".venv", "bin", "python");
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      NATS_URL: natsUrl,
      MONGO_URL: mongoUrl,
      API_SECRET: apiSecret,
      DASHBOARD_TOKEN: dashboardToken,
      DOWNLOAD_URL_SECRET: randomBytes(24).toString("base64url"),
      PUBLIC_BASE_URL: gatewayUrl,
      // the dashboard's cancel button calls the gateway server-side with this token
      GATEWAY_URL: gatewayUrl,
      GATEWAY_API_TOKEN: apiSecret,
      GATEWAY_PORT: String(gatewayPort),
      DASHBOARD_PORT: String(dashboardPort),
      OUTBOUND_ALLOW_PRIVATE: opts.allowPrivateUrls === false ? "false" : "true",
      DATASET_WORK_DIR: datasetWorkDir,
      TRAINER_PYTHON: existsSync(python) ? python : "python3",
      ...opts.env,
    };
    const specs = serviceSpecs(opts.runDir, opts.agents ?? 1, opts.schedulers ?? 1, credentials?.seedFiles);
    const launch = async (spec: ServiceSpec): Promise<Supervised> => {
      const main = join(repoRoot, "services", spec.service, "dist", "main.js");
      if (!existsSync(main)) throw new Error(`${main} is missing: build first (pnpm build)`);
      let markReady = () => {};
      const ready = new Promise<void>((resolve) => (markReady = resolve));
      // A service is ready when it logs its start-up line (pino JSON, level info).
      const watchingSink: LineSink = (name, line) => {
        if (/"msg":"[^"]*(listening|started|ready)[^"]*"/.test(line)) markReady();
        sink(name, line);
      };
      const proc = supervise(spec.name, process.execPath, [main], { env: { ...env, ...spec.env }, sink: watchingSink });
      processes.push(proc);
      const exited = proc.exited.then((code) => {
        throw new Error(`${spec.name} exited during start-up (code ${code})`);
      });
      await Promise.race([ready, exited]);
      exited.catch(() => undefined);
      return proc;
    };
    /** Starts a stopped NATS node or FerretDB again, in its old place in the list of processes. */
    const startAgain = async (server: { start(): Promise<unknown>; process: Supervised }, index: number) => {
      try {
        await server.start();
      } finally {
        // a server keeps its place in the list (stopped after the services), even one that failed to start
        processes.splice(index, 0, server.process);
      }
      return server.process;
    };
    await Promise.all(specs.map(launch));
    await waitForPort("127.0.0.1", gatewayPort, 20_000, "gateway");
    await waitForPort("127.0.0.1", dashboardPort, 20_000, "dashboard");
    return {
      gatewayUrl,
      dashboardUrl: `http://127.0.0.1:${dashboardPort}`,
      natsUrl,
      mongoUrl,
      apiSecret,
      dashboardToken,
      nats: {
        nodes,
        credentials,
        async addAgent(agentId) {
          if (!credentials) throw new Error("this stack did not start its own NATS");
          credentials = writeNatsCredentials(credentials.dir, [agentId]);
          // a reload re-reads the include: the new user can connect, nobody is disconnected
          for (const node of nodes) node.process.kill("SIGHUP");
          const seed = credentials.seedFiles[agentUser(agentId)];
          if (!seed) throw new Error(`no credential written for ${agentId}`);
          return seed;
        },
      },
      dashboardApi: (path) =>
        fetch(`http://127.0.0.1:${dashboardPort}${path}`, { headers: { authorization: `Bearer ${dashboardToken}` } }),
      api: (path, init = {}) =>
        fetch(`${gatewayUrl}${path}`, {
          ...init,
          headers: { authorization: `Bearer ${apiSecret}`, "content-type": "application/json" },
        }),
      ferret,
      agents: stackAgents(opts.runDir, opts.agents ?? 1),
      datasetWorkDir,
      processes,
      async restart(name, restartOpts) {
        const spec = specs.find((x) => x.name === name);
        const server = nodes.find((n) => n.name === name) ?? (name === "ferretdb" ? ferret : null);
        const index = processes.findIndex((p) => p.name === name);
        const current = processes[index];
        const start = spec ? () => launch(spec) : server ? () => startAgain(server, index) : null;
        if (!start || !current) throw new Error(`no process named ${name}`);
        if (restartOpts?.hard) {
          current.kill("SIGKILL");
          await current.exited;
        } else {
          await current.stop();
        }
        processes.splice(index, 1);
        // started again even when the wait during the outage fails: a failed test must not leave
        // the tests after it without NATS
        const outage = await Promise.resolve(restartOpts?.duringOutage?.()).then(
          () => null,
          (error: unknown) => ({ error }),
        );
        const restarted = await start();
        if (outage) throw outage.error;
        return restarted;
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Whether the launcher should start a 3-node NATS cluster: `--cluster` or TRAINYARD_NATS_CLUSTER=true. */
export function clusterRequested(argv = process.argv, env = process.env): boolean {
  return argv.includes("--cluster") || /^(true|1)$/.test(env.TRAINYARD_NATS_CLUSTER ?? "");
}

/**
 * Runs the NATS provisioner as the admin user: every stream, bucket and store with `replicas`;
 * `extraEnv` (the stack's extra variables) may set its other bounds (e.g. NATS_ARTIFACTS_MAX_AGE).
 */
async function provision(
  natsUrl: string,
  adminSeed: string | undefined,
  replicas: number,
  sink: LineSink,
  extraEnv: Record<string, string> = {},
): Promise<void> {
  const main = join(repoRoot, "packages", "runtime", "dist", "provision.js");
  const proc = supervise("provision", process.execPath, [main], {
    env: {
      ...process.env,
      NATS_URL: natsUrl,
      NATS_REPLICAS: String(replicas),
      // every node of a local cluster shares this machine's disk: keep the reservations small
      NATS_STREAM_MAX_BYTES: String(512 * 1024 ** 2),
      NATS_OBJECT_STORE_MAX_BYTES: String(4 * 1024 ** 3),
      ...extraEnv,
      ...(adminSeed ? { NATS_NKEY_SEED_FILE: adminSeed } : {}),
    },
    sink,
  });
  const code = await proc.exited;
  if (code !== 0) throw new Error(`the NATS provisioner exited with code ${code}`);
}
