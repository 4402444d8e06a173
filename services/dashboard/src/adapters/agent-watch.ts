import type { NatsConnection } from "@nats-io/transport-node";
import { Bucket } from "@trainyard/contracts";
import { openKv, type Logger } from "@trainyard/runtime";
import type { AgentDirectory } from "../agent-directory.js";

/**
 * Follows the agents KV bucket: its current entries first, then every put and delete, into the
 * directory. Expiry sends no message, so the directory's sweep finds silent agents.
 */
export async function watchAgents(
  nc: NatsConnection,
  directory: AgentDirectory,
  log: Logger,
): Promise<{ stop(): Promise<void> }> {
  const kv = await openKv(nc, Bucket.agents);
  const watch = await kv.watch({ key: ">" });
  const done = (async () => {
    for await (const entry of watch) {
      try {
        if (entry.operation === "PUT") await directory.heartbeat(entry.key, entry.json<unknown>());
        else await directory.gone(entry.key);
      } catch (err) {
        log.error({ err, agent_id: entry.key }, "agent heartbeat not recorded");
      }
    }
  })();
  return {
    async stop() {
      watch.stop();
      await done;
    },
  };
}
