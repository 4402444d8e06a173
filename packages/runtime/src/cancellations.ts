import type { NatsConnection } from "@nats-io/transport-node";
import { KvWatchInclude } from "@nats-io/kv";
import { Bucket } from "@trainyard/contracts";
import { mirrorKv } from "./kv-mirror.js";
import { openKv } from "./stores.js";

/** Read side of the cancellations bucket (the gateway writes it on DELETE /api/v1/jobs/{id}). */
export interface Cancellations {
  isCancelled(jobId: string): Promise<boolean>;
  /** Calls `onCancel` for every cancellation from now on; resolves once the watch is live. */
  watch(onCancel: (jobId: string) => void): Promise<{ stop(): void }>;
}

/** With `mirror`, lookups read an in-memory copy kept by a watch (the scheduler asks on every round). */
export async function openCancellations(nc: NatsConnection, opts: { mirror?: boolean } = {}): Promise<Cancellations> {
  const kv = await openKv(nc, Bucket.cancellations);
  const mirror = opts.mirror ? await mirrorKv(kv, () => true) : null;
  return {
    async isCancelled(jobId) {
      if (mirror) return mirror.get(jobId) !== undefined;
      const entry = await kv.get(jobId);
      return entry !== null && entry.operation === "PUT";
    },
    async watch(onCancel) {
      // only new entries: a job cancelled earlier is caught by isCancelled before it starts
      const updates = await kv.watch({ include: KvWatchInclude.UpdatesOnly });
      void (async () => {
        for await (const entry of updates) {
          if (entry.operation === "PUT") onCancel(entry.key);
        }
      })();
      return { stop: () => updates.stop() };
    },
  };
}
