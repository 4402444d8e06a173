import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { startFerret, startNats } from "./infra.js";
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
  /** Allow datasets and callbacks on loopback/private addresses (local runs; never in production). */
  allowPrivateUrls?: boolean;
  sink?: LineSink;
  /** Extra variables for every service. */
  env?: Record<string, string>;
}

export interface Stack {
  gatewayUrl: string;
  dashboardUrl: string;
  natsUrl: string;
  mongoUrl: string;
  apiSecret: string;
  processes: Supervised[];
  stop(): Promise<void>;
}

const SERVICES = ["gateway", "dataset", "scheduler", "notifier", "dashboard", "trainer-agent"] as const;

/** Starts NATS, FerretDB (unless external URLs are given), the six services and one local trainer-agent. */
export async function startStack(opts: StackOptions): Promise<Stack> {
  const sink = opts.sink ?? prefixedSink;
  mkdirSync(opts.runDir, { recursive: true });
  const processes: Supervised[] = [];
  const stop = async () => {
    for (const p of [...processes].reverse()) await p.stop();
  };
  try {
    let natsUrl = opts.natsUrl;
    if (!natsUrl) {
      const nats = await startNats(join(opts.runDir, "nats"), sink);
      processes.push(nats.process);
      natsUrl = nats.url;
    }
    let mongoUrl = opts.mongoUrl;
    if (!mongoUrl) {
      const ferret = await startFerret(join(opts.runDir, "ferretdb"), sink);
      processes.push(ferret.process);
      mongoUrl = ferret.url;
    }
    const gatewayPort = opts.gatewayPort ?? (await freePort());
    const dashboardPort = opts.dashboardPort ?? (await freePort());
    const apiSecret = opts.apiSecret ?? randomBytes(24).toString("base64url");
    const gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
    const python = join(repoRoot, ".venv", "bin", "python");
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      NATS_URL: natsUrl,
      MONGO_URL: mongoUrl,
      API_SECRET: apiSecret,
      DOWNLOAD_URL_SECRET: randomBytes(24).toString("base64url"),
      PUBLIC_BASE_URL: gatewayUrl,
      GATEWAY_PORT: String(gatewayPort),
      DASHBOARD_PORT: String(dashboardPort),
      OUTBOUND_ALLOW_PRIVATE: opts.allowPrivateUrls === false ? "false" : "true",
      DATASET_WORK_DIR: join(opts.runDir, "dataset"),
      AGENT_ID: "local-1",
      AGENT_WORK_DIR: join(opts.runDir, "agent-local-1"),
      TRAINER_PYTHON: existsSync(python) ? python : "python3",
      ...opts.env,
    };
    const ready = new Map<string, () => void>();
    const readiness = SERVICES.map((name) => new Promise<void>((resolve) => ready.set(name, resolve)));
    // A service is ready when it logs its start-up line (pino JSON, level info).
    const watchingSink: LineSink = (name, line) => {
      if (/"msg":"[^"]*(listening|started|ready)[^"]*"/.test(line)) ready.get(name)?.();
      sink(name, line);
    };
    for (const name of SERVICES) {
      const main = join(repoRoot, "services", name, "dist", "main.js");
      if (!existsSync(main)) throw new Error(`${main} is missing: build first (pnpm build)`);
      const proc = supervise(name, process.execPath, [main], { env, sink: watchingSink });
      processes.push(proc);
    }
    const exitedEarly = Promise.race(
      processes.map((p) =>
        p.exited.then((code) => Promise.reject(new Error(`${p.name} exited during start-up (code ${code})`))),
      ),
    );
    await Promise.race([Promise.all(readiness), exitedEarly]);
    for (const p of processes) {
      if (p.child.exitCode !== null) throw new Error(`${p.name} exited during start-up (code ${p.child.exitCode})`);
    }
    await waitForPort("127.0.0.1", gatewayPort, 20_000, "gateway");
    await waitForPort("127.0.0.1", dashboardPort, 20_000, "dashboard");
    exitedEarly.catch(() => undefined);
    return {
      gatewayUrl,
      dashboardUrl: `http://127.0.0.1:${dashboardPort}`,
      natsUrl,
      mongoUrl,
      apiSecret,
      processes,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
