import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { createConnection } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";

/** The repository root (the folder holding pnpm-workspace.yaml). */
export const repoRoot: string = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "pnpm-workspace.yaml"))) {
    const up = dirname(dir);
    if (up === dir) throw new Error("cannot find the repository root (pnpm-workspace.yaml)");
    dir = up;
  }
  return dir;
})();

/** A binary installed by scripts/bootstrap.sh into .tools/bin. */
export function toolPath(name: string): string {
  const path = join(repoRoot, ".tools", "bin", name);
  if (!existsSync(path)) throw new Error(`${path} is missing: run scripts/bootstrap.sh first`);
  return path;
}

export interface Supervised {
  name: string;
  child: ChildProcess;
  /** Resolves with the exit code once the process has exited. */
  exited: Promise<number | null>;
  stop(): Promise<void>;
  /** Signals the whole process group at once, as a host dying would (SIGKILL) — no clean-up. */
  kill(signal: NodeJS.Signals): void;
}

export type LineSink = (name: string, line: string) => void;

/** Writes each output line as `name | line`, the launcher's readable prefixed log. */
export const prefixedSink: LineSink = (name, line) => process.stdout.write(`${name.padEnd(14)}| ${line}\n`);

/**
 * Spawns a long-running process in its own process group, so that stopping it also stops
 * whatever it spawned (a trainer-agent's Python child, say): no orphans.
 */
export function supervise(
  name: string,
  command: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; sink?: LineSink },
): Supervised {
  const child = spawn(command, args, {
    cwd: opts.cwd ?? repoRoot,
    env: opts.env ?? process.env,
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  const sink = opts.sink ?? prefixedSink;
  for (const stream of [child.stdout, child.stderr]) {
    if (stream) createInterface({ input: stream }).on("line", (line) => sink(name, line));
  }
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    signalGroup(child, "SIGTERM");
    const timer = setTimeout(() => signalGroup(child, "SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
    // the group may still hold children the leader did not wait for
    signalGroup(child, "SIGKILL");
  };
  return { name, child, exited, stop, kill: (signal) => signalGroup(child, signal) };
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // the group is already gone
  }
}

/** Resolves once something accepts TCP connections on host:port, or rejects after `timeoutMs`. */
export async function waitForPort(host: string, port: number, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ host, port });
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${what} did not listen on ${host}:${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A TCP port that was free a moment ago. */
export async function freePort(): Promise<number> {
  const { createServer } = await import("node:net");
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port")),
      );
    });
  });
}
