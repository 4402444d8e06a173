import type { NatsConnection } from "@nats-io/transport-node";
import { Bucket, QueueEntry } from "@trainyard/contracts";
import { mirrorKv, type KvMirror, type Mirrored } from "./kv-mirror.js";
import { ttlHeader } from "./key-expiry.js";
import { isKvConflict, openKv } from "./stores.js";
import { QUEUE_REMOVAL_MARKER_TTL_MS } from "./topology.js";

const RANK = { high: 0, normal: 1, low: 2 } as const;

/** Queue order: higher priority first, then earlier arrival. */
export function queueOrder(a: QueueEntry, b: QueueEntry): number {
  return RANK[a.priority] - RANK[b.priority] || a.seq - b.seq;
}

/** Waiting entries in queue order, and the placed ones, of `items` (each read through `entryOf`). */
export function splitQueue<T>(items: Iterable<T>, entryOf: (item: T) => QueueEntry): { waiting: T[]; placed: T[] } {
  const waiting: T[] = [];
  const placed: T[] = [];
  for (const item of items) (entryOf(item).placement ? placed : waiting).push(item);
  waiting.sort((a, b) => queueOrder(entryOf(a), entryOf(b)));
  return { waiting, placed };
}

/** `queueOrder`, made total by the job id (two entries never compare equal). */
function strictOrder(a: QueueEntry, b: QueueEntry): number {
  return queueOrder(a, b) || (a.job.job_id < b.job.job_id ? -1 : a.job.job_id > b.job.job_id ? 1 : 0);
}

/** A stored value that is not a queue entry reads as absent. */
export function parseQueueEntry(raw: unknown): QueueEntry | null {
  const entry = QueueEntry.safeParse(raw);
  return entry.success ? entry.data : null;
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
  /** Replaces an entry if it is still at `revision`: its new revision, or null when someone changed it first. */
  update(entry: QueueEntry, revision: number): Promise<number | null>;
  remove(jobId: string, revision?: number): Promise<boolean>;
  stop(): void;
}

/**
 * Opens the queue. With `mirror`, `list` reads an in-memory copy kept by a watch and by this
 * process's own writes, with the waiting entries kept in queue order as they change (the
 * scheduler lists on every round); otherwise it reads the bucket each time.
 */
export async function openJobQueue(nc: NatsConnection, opts: { mirror?: boolean } = {}): Promise<JobQueue> {
  const kv = await openKv(nc, Bucket.queue);
  const parse = parseQueueEntry;
  const index = new QueueIndex();
  const mirror: KvMirror<QueueEntry> | null = opts.mirror
    ? await mirrorKv(kv, parse, (_key, before, after) => index.change(before, after))
    : null;
  if (mirror) await mirror.loaded;
  const read = async (key: string): Promise<StoredEntry | null> => {
    const found = await kv.get(key);
    if (!found || found.operation !== "PUT") return null;
    const entry = parse(found.json());
    return entry ? { entry, revision: found.revision } : null;
  };
  return {
    async enqueue(entry) {
      try {
        const revision = await kv.create(entry.job.job_id, JSON.stringify(entry));
        mirror?.noteWrite(entry.job.job_id, entry, revision);
        return true;
      } catch (err) {
        if (isKvConflict(err)) return false;
        throw err;
      }
    },
    async list() {
      if (mirror) return index.list();
      const out: StoredEntry[] = [];
      for await (const key of await kv.keys()) {
        const stored = await read(key);
        if (stored) out.push(stored);
      }
      const { waiting, placed } = splitQueue(out, (s) => s.entry);
      return [...waiting, ...placed];
    },
    get: read,
    async update(entry, revision) {
      try {
        const next = await kv.update(entry.job.job_id, JSON.stringify(entry), revision);
        mirror?.noteWrite(entry.job.job_id, entry, next);
        return next;
      } catch (err) {
        if (isKvConflict(err)) return null;
        throw err;
      }
    },
    stop: () => mirror?.stop(),
    async remove(jobId, revision) {
      try {
        // a purge whose marker expires: a job that left the queue leaves nothing in it for ever
        await kv.purge(jobId, {
          ttl: ttlHeader(QUEUE_REMOVAL_MARKER_TTL_MS),
          ...(revision === undefined ? {} : { previousSeq: revision }),
        });
        const known = revision ?? mirror?.get(jobId)?.revision;
        if (known !== undefined) mirror?.noteWrite(jobId, null, known);
        return true;
      } catch (err) {
        if (isKvConflict(err)) return false;
        throw err;
      }
    },
  };
}

/** The mirrored queue: waiting entries in queue order (kept sorted as they change), then placed ones. */
class QueueIndex {
  private readonly waiting: StoredEntry[] = [];
  private readonly placed = new Map<string, StoredEntry>();

  change(before: Mirrored<QueueEntry> | undefined, after: Mirrored<QueueEntry> | undefined): void {
    if (before) {
      if (before.value.placement) this.placed.delete(before.value.job.job_id);
      else {
        const at = this.find(before.value);
        if (this.waiting[at]?.entry.job.job_id === before.value.job.job_id) this.waiting.splice(at, 1);
      }
    }
    if (!after) return;
    const stored = { entry: after.value, revision: after.revision };
    if (after.value.placement) this.placed.set(after.value.job.job_id, stored);
    else this.waiting.splice(this.find(after.value), 0, stored);
  }

  list(): StoredEntry[] {
    return [...this.waiting, ...this.placed.values()];
  }

  /** The position of `entry` among the waiting ones, or where it would go (binary search). */
  private find(entry: QueueEntry): number {
    let lo = 0;
    let hi = this.waiting.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const probe = this.waiting[mid];
      if (probe && strictOrder(probe.entry, entry) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
