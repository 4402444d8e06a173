import { join } from "node:path";
import { repoRoot, supervise, waitForPort, type LineSink, type Stack } from "@trainyard/stack";

/**
 * Stops one service of a running stack and starts it again, as an operator restarting it would:
 * the same program, the stack's connection settings plus `env`. The new process takes the old
 * one's place in `stack.processes`, so `stack.stop()` stops it. `duringOutage` runs while the
 * service is down; the call returns once the new process listens on `port`.
 */
export async function restartService(
  stack: Stack,
  opts: {
    name: string;
    port: number;
    env: Record<string, string>;
    sink: LineSink;
    duringOutage?: () => Promise<void>;
  },
): Promise<void> {
  const index = stack.processes.findIndex((p) => p.name === opts.name);
  const old = stack.processes[index];
  if (!old) throw new Error(`the stack runs no ${opts.name}`);
  await old.stop();
  await opts.duringOutage?.();
  const main = join(repoRoot, "services", opts.name, "dist", "main.js");
  stack.processes[index] = supervise(opts.name, process.execPath, [main], {
    env: {
      ...process.env,
      NATS_URL: stack.natsUrl,
      MONGO_URL: stack.mongoUrl,
      PUBLIC_BASE_URL: stack.gatewayUrl,
      ...opts.env,
    },
    sink: opts.sink,
  });
  await waitForPort("127.0.0.1", opts.port, 30_000, opts.name);
}
