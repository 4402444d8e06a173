import type { NatsConnection } from "@nats-io/transport-node";
import { Bucket } from "@trainyard/contracts";
import { parseQueueEntry } from "./job-queue.js";
import { mirrorKv } from "./kv-mirror.js";
import { queueSnapshot, type QueueSnapshot } from "./queue-places.js";
import { openKv } from "./stores.js";

/** A read-only, watched copy of the scheduler's queue bucket (KV `queue`). */
export interface QueueWatch {
  /** The queue as last seen; it may lag the bucket by the watch's delivery delay. */
  snapshot(): QueueSnapshot;
  stop(): void;
}

/**
 * Watches the scheduler's queue for services that only read it (queue positions). Each replica
 * of a reader has its own watch (an ordered consumer), so replicas never split the updates
 * between them; two replicas can differ only for the moment one lags. Resolves once the entries
 * that existed when it started have been read; `changed` runs after every change it sees.
 */
export async function watchQueue(nc: NatsConnection, opts: { changed?: () => void } = {}): Promise<QueueWatch> {
  let snapshot: QueueSnapshot | null = null;
  const mirror = await mirrorKv(await openKv(nc, Bucket.queue), parseQueueEntry, () => {
    snapshot = null;
    opts.changed?.();
  });
  await mirror.loaded;
  return {
    snapshot: () => (snapshot ??= queueSnapshot(mirror.entries().map(([, { value }]) => value))),
    stop: () => mirror.stop(),
  };
}
