import type { NatsConnection } from "@nats-io/transport-node";
import { Bucket, QueueEntry } from "@trainyard/contracts";
import { mirrorKv, type KvMirror } from "./kv-mirror.js";
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
  stop(): void;
}

/**
 * Opens the queue. With `mirror`, `list` reads an in-memory copy kept by a watch (the
 * scheduler, which lists on every round); otherwise it reads the bucket each time.
 */
export async function openJobQueue(nc: NatsConnection, opts: { mirror?: boolean } = {}): Promise<JobQueue> {
  const kv = await openKv(nc, Bucket.queue);
  const parse = (raw: unknown) => {
    const entry = QueueEntry.safeParse(raw);
    return entry.success ? entry.data : null;
  };
  const mirror: KvMirror<QueueEntry> | null = opts.mirror ? await mirrorKv(kv, parse) : null;
  const read = async (key: string): Promise<StoredEntry | null> => {
    const found = await kv.get(key);
    if (!found || found.operation !== "PUT") return null;
    const entry = parse(found.json());
    return entry ? { entry, revision: found.revision } : null;
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
      if (mirror) {
        for (const [, { value, revision }] of mirror.entries()) out.push({ entry: value, revision });
      } else {
        for await (const key of await kv.keys()) {
          const stored = await read(key);
          if (stored) out.push(stored);
        }
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
    stop: () => mirror?.stop(),
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
