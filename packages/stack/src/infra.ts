import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { freePort, supervise, toolPath, waitForPort, type LineSink, type Supervised } from "./processes.js";

export interface Infra {
  natsUrl: string;
  mongoUrl: string;
  processes: Supervised[];
}

/** Starts nats-server with JetStream, storing in `dir`. */
export async function startNats(
  dir: string,
  sink?: LineSink,
  port?: number,
): Promise<{ url: string; process: Supervised }> {
  const p = port ?? (await freePort());
  mkdirSync(dir, { recursive: true });
  const proc = supervise("nats", toolPath("nats-server"), ["-js", "-a", "127.0.0.1", "-p", String(p), "-sd", dir], {
    ...(sink ? { sink } : {}),
  });
  await waitForPort("127.0.0.1", p, 20_000, "nats-server");
  return { url: `nats://127.0.0.1:${p}`, process: proc };
}

/** Starts FerretDB (MongoDB wire protocol) on SQLite files in `dir`, telemetry disabled. */
export async function startFerret(
  dir: string,
  sink?: LineSink,
  port?: number,
): Promise<{ url: string; process: Supervised }> {
  const p = port ?? (await freePort());
  mkdirSync(join(dir, "data"), { recursive: true });
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
  await waitForPort("127.0.0.1", p, 20_000, "ferretdb");
  return { url: `mongodb://127.0.0.1:${p}/`, process: proc };
}
