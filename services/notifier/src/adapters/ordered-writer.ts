import { MongoBulkWriteError, type AnyBulkWriteOperation, type Collection, type Document } from "mongodb";
import type { Logger } from "@trainyard/runtime";

const DUPLICATE_KEY = 11000;
const MAX_BACKOFF_MS = 5_000;
/** Outbox deletions wait for this many ids or this long, then go in one round trip. */
const DELETE_BATCH = 1_000;
const DELETE_DELAY_MS = 500;

/** One write of a document identified by `_id` to one of the writer's collections. */
export type Write<D extends { _id: string }> =
  | { collection: "log" | "outbox"; kind: "insert"; doc: D }
  | { collection: "log" | "outbox"; kind: "replace"; doc: D }
  | { collection: "outbox"; kind: "delete"; id: string };

interface Queued<D extends { _id: string }> {
  write: Write<D> | null;
  done: () => void;
  fail: (err: Error) => void;
}

/**
 * Group commit over two collections: writes queue up while one flush is in flight and the next
 * flush takes them all, so many jobs share each round trip. A promise resolves when its write
 * is durable; a failed flush is retried (with back-off) until it succeeds or the writer closes.
 *
 * Each flush applies its log writes first, then due outbox deletions, then the outbox's inserts
 * and replacements. Deleting a settled callback from the outbox is only tidying (its log copy,
 * at a higher revision, is what counts), so deletions are batched and resolve at once; a crash
 * before one leaves a stale outbox copy that start-up removes. Callers never put two writes of
 * one document in one flush (every caller awaits its previous write of that document).
 */
export class OrderedWriter<D extends { _id: string }> {
  private queue: Array<Queued<D>> = [];
  private flushing: Promise<void> | null = null;
  private closed = false;
  private readonly deletions = new Set<string>();
  private deletionsDue = false;
  private deletionTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly collections: { log: Collection<D>; outbox: Collection<D> },
    private readonly log: Logger,
  ) {}

  write(write: Write<D>): Promise<void> {
    if (write.kind === "delete") {
      this.deletions.add(write.id);
      if (this.deletions.size >= DELETE_BATCH) this.dueNow();
      else this.deletionTimer ??= setTimeout(() => this.dueNow(), DELETE_DELAY_MS);
      return Promise.resolve();
    }
    return this.enqueue(write);
  }

  /** Resolves once every write queued before this call is durable. */
  barrier(): Promise<void> {
    return this.enqueue(null);
  }

  /**
   * Waits for queued writes (at most `timeoutMs`), then refuses new ones; writes still not
   * durable by then are rejected, never reported as done.
   */
  async close(timeoutMs: number): Promise<void> {
    this.deletionsDue = true;
    const pending = this.barrier().catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([pending, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
    this.closed = true;
    if (this.deletionTimer) clearTimeout(this.deletionTimer);
    const abandoned = this.queue;
    this.queue = [];
    for (const queued of abandoned) queued.fail(new Error("the delivery store closed before this write"));
  }

  private dueNow(): void {
    if (this.deletionTimer) clearTimeout(this.deletionTimer);
    this.deletionTimer = null;
    this.deletionsDue = true;
    this.kick();
  }

  private enqueue(write: Write<D> | null): Promise<void> {
    if (this.closed) return Promise.reject(new Error("the delivery store is closed"));
    return new Promise((done, fail) => {
      this.queue.push({ write, done, fail });
      this.kick();
    });
  }

  private kick(): void {
    if (this.closed) return;
    this.flushing ??= this.drain().finally(() => (this.flushing = null));
  }

  private async drain(): Promise<void> {
    while ((this.queue.length > 0 || this.deletionsDue) && !this.closed) {
      const batch = this.queue;
      this.queue = [];
      const writes = batch.flatMap((q) => (q.write ? [q.write] : []));
      // a callback written to the outbox again (a redelivery) must lose its stale copy first
      const rewritten = writes.some(
        (w) => w.collection === "outbox" && w.kind !== "delete" && this.deletions.has(w.doc._id),
      );
      let deletions: string[] = [];
      if (this.deletionsDue || rewritten) {
        deletions = [...this.deletions];
        this.deletions.clear();
        this.deletionsDue = false;
        if (this.deletionTimer) clearTimeout(this.deletionTimer);
        this.deletionTimer = null;
      }
      const durable = await this.flushWithRetry(writes, deletions);
      for (const queued of batch) {
        if (durable) queued.done();
        else queued.fail(new Error("the delivery store closed before this write"));
      }
    }
  }

  private async flushWithRetry(writes: Array<Write<D>>, deletions: string[]): Promise<boolean> {
    for (let failures = 0; ; failures++) {
      try {
        await this.flush(writes, deletions);
        return true;
      } catch (err) {
        if (this.closed) return false;
        const backoff = Math.min(MAX_BACKOFF_MS, 100 * 2 ** failures);
        this.log.error({ err, writes: writes.length, retry_in_ms: backoff }, "delivery log write failed; retrying");
        await new Promise((resolve) => setTimeout(resolve, backoff));
      }
    }
  }

  private async flush(writes: Array<Write<D>>, deletions: string[]): Promise<void> {
    const models = (collection: "log" | "outbox") =>
      writes.flatMap((w): Array<AnyBulkWriteOperation<D>> => {
        if (w.collection !== collection || w.kind === "delete") return [];
        return [w.kind === "insert" ? insertModel(w.doc) : replaceModel(w.doc)];
      });
    await bulk(this.collections.log, models("log"));
    if (deletions.length > 0) await this.collections.outbox.deleteMany({ _id: { $in: deletions } } as never);
    await bulk(this.collections.outbox, models("outbox"));
  }
}

const insertModel = <D extends { _id: string }>(doc: D): AnyBulkWriteOperation<D> =>
  ({ insertOne: { document: doc } }) as AnyBulkWriteOperation<D>;
const replaceModel = <D extends { _id: string }>(doc: D): AnyBulkWriteOperation<D> =>
  ({ replaceOne: { filter: { _id: doc._id }, replacement: doc, upsert: true } }) as unknown as AnyBulkWriteOperation<D>;

/**
 * Applies `models` in order. An insert of a document that is already there (a retried flush
 * that had half succeeded) becomes a replacement, and the rest carries on after it.
 */
async function bulk<D extends Document & { _id: string }>(
  collection: Collection<D>,
  models: Array<AnyBulkWriteOperation<D>>,
): Promise<void> {
  let from = 0;
  while (from < models.length) {
    try {
      await collection.bulkWrite(models.slice(from), { ordered: true });
      return;
    } catch (err) {
      const failed = duplicateInsertIndex(err);
      if (failed === null) throw err;
      const at = from + failed;
      const model = models[at] as { insertOne?: { document: D } };
      if (!model.insertOne) throw err;
      models[at] = replaceModel(model.insertOne.document);
      from = at;
    }
  }
}

function duplicateInsertIndex(err: unknown): number | null {
  if (!(err instanceof MongoBulkWriteError)) return null;
  const errors = ([] as Array<{ code?: unknown; index?: unknown }>).concat(err.writeErrors as never);
  const first = errors[0];
  return first?.code === DUPLICATE_KEY && typeof first.index === "number" ? first.index : null;
}
