import type { AgentHeartbeat, GpuReading } from "@trainyard/contracts";
import type { KV, Logger } from "@trainyard/runtime";

/**
 * Keeps this agent's entry in the agents bucket fresh. The bucket expires silent entries, so a
 * crashed host stops receiving work without anyone deregistering it.
 */
export function startHeartbeat(
  kv: KV,
  beat: Omit<AgentHeartbeat, "seen_at" | "gpus" | "draining">,
  readGpus: () => Promise<GpuReading[]>,
  isDraining: () => boolean,
  intervalMs: number,
  log: Logger,
) {
  const write = async () => {
    try {
      const gpus = await readGpus();
      await kv.put(
        beat.agent_id,
        JSON.stringify({
          ...beat,
          gpus,
          draining: isDraining(),
          seen_at: new Date().toISOString(),
        } satisfies AgentHeartbeat),
      );
    } catch (err) {
      log.warn({ err }, "heartbeat failed");
    }
  };
  // one write at a time, in order: a late beat can neither overtake a newer one nor the deletion
  let writing = Promise.resolve();
  const put = () => (writing = writing.then(write));
  const timer = setInterval(() => void put(), intervalMs);
  return {
    first: put(),
    /** Announces a change (draining) now rather than at the next beat. */
    beatNow: put,
    /** Stops beating and deregisters: from then on the scheduler counts this agent's jobs as lost. */
    async stop() {
      clearInterval(timer);
      await writing;
      await kv.delete(beat.agent_id).catch(() => undefined);
    },
  };
}
