import type { NatsConnection } from "@nats-io/transport-node";
import { Bucket, QueueEntry } from "@trainyard/contracts";
import { openKv } from "./stores.js";

const RANK = { high: 0, normal: 1, low: 2 } as const;

/** Queue order: higher priority first, then earlier arrival. */
export function queueOrder(a: QueueEntry, b: QueueEntry): number {
  return RANK[a.priority] - RANK[b.priority] || a.seq - b.seq;
}

export interface StoredEntry {
  entry: QueueEntry;
  /** KV revision: every change is a compare-and-set on it, so two schedulers never both win. */
  revision: number;
}

/** The scheduler's queue bucket; other services read it for queue positions. */
export interface JobQueue {
  /** Adds a job unless it is already there (a redelivered dataset-ready is a no-op). */
  enqueue(entry: QueueEntry): Promise<boolean>;
  /** Every entry, waiting ones in queue order first, then the placed ones. */
  list(): Promise<StoredEntry[]>;
  get(jobId: string): Promise<StoredEntry | null>;
  /** Replaces an entry if it is still at `revision`; false when someone changed it first. */
  update(entry: QueueEntry, revision: number): Promise<boolean>;
  remove(jobId: string, revision?: number): Promise<boolean>;
}

export async function openJobQueue(nc: NatsConnection): Promise<JobQueue> {
  const kv = await openKv(nc, Bucket.queue);
  const read = async (key: string): Promise<StoredEntry | null> => {
    const found = await kv.get(key);
    if (!found || found.operation !== "PUT") return null;
    const entry = QueueEntry.safeParse(found.json());
    return entry.success ? { entry: entry.data, revision: found.revision } : null;
  };
  return {
    async enqueue(entry) {
      try {
        await kv.create(entry.job.job_id, JSON.stringify(entry));
        return true;
      } catch (err) {
        if (isConflict(err)) return false;
        throw err;
      }
    },
    async list() {
      const out: StoredEntry[] = [];
      for await (const key of await kv.keys()) {
        const stored = await read(key);
        if (stored) out.push(stored);
      }
      const waiting = out.filter((s) => s.entry.placement === null).sort((a, b) => queueOrder(a.entry, b.entry));
      return [...waiting, ...out.filter((s) => s.entry.placement !== null)];
    },
    get: read,
    async update(entry, revision) {
      try {
        await kv.update(entry.job.job_id, JSON.stringify(entry), revision);
        return true;
      } catch (err) {
        if (isConflict(err)) return false;
        throw err;
      }
    },
    async remove(jobId, revision) {
      try {
        await kv.delete(jobId, revision === undefined ? undefined : { previousSeq: revision });
        return true;
      } catch (err) {
        if (isConflict(err)) return false;
        throw err;
      }
    },
  };
}

function isConflict(err: unknown): boolean {
  return /wrong last sequence|key exists/i.test(String(err));
}
