import type { Db } from "mongodb";
import {
  CALLBACK_DELIVERIES_COLLECTION,
  CALLBACK_OUTBOX_COLLECTION,
  CallbackDelivery,
  latestRevisions,
  type CallbackType,
} from "@trainyard/contracts";
import type { Logger } from "@trainyard/runtime";
import { OrderedWriter } from "./ordered-writer.js";

const TERMINAL_TYPES: CallbackType[] = ["training_completed", "training_failed"];
/** How long a shutdown waits for queued writes before abandoning them (their events are redelivered). */
const CLOSE_TIMEOUT_MS = 5_000;

/**
 * The delivery log in MongoDB: open callbacks in the outbox collection, settled ones in the
 * log collection (see @trainyard/contracts `CALLBACK_OUTBOX_COLLECTION`). Writes are applied
 * in call order and each promise resolves once its write is durable.
 */
export interface DeliveryStore {
  /** A new callback to deliver, written to the outbox. */
  open(doc: CallbackDelivery): Promise<void>;
  /** An open callback's new state: an attempt, a new schedule. */
  save(doc: CallbackDelivery): Promise<void>;
  /** A callback that is settled: into the log, out of the outbox. */
  settle(doc: CallbackDelivery): Promise<void>;
  /** A callback settled before it ever reached the outbox: into the log only. */
  logSettled(doc: CallbackDelivery): Promise<void>;
  /** Resolves once every write made so far is durable. */
  barrier(): Promise<void>;
  /**
   * Every open callback, after finishing moves a crash interrupted (a callback in both
   * collections whose log revision is current is settled).
   */
  loadOpen(): Promise<CallbackDelivery[]>;
  /** Every callback of one job, each at its current revision. */
  loadJob(jobId: string): Promise<CallbackDelivery[]>;
  /** A settled callback, as logged. */
  findLogged(callbackId: string): Promise<CallbackDelivery | null>;
  /** Whether the job's terminal callback was delivered. */
  terminalDelivered(jobId: string): Promise<boolean>;
  close(): Promise<void>;
}

export async function openDeliveryStore(db: Db, log: Logger): Promise<DeliveryStore> {
  const outbox = db.collection<CallbackDelivery>(CALLBACK_OUTBOX_COLLECTION);
  const settled = db.collection<CallbackDelivery>(CALLBACK_DELIVERIES_COLLECTION);
  await Promise.all([settled.createIndex({ job_id: 1, seq: 1 }), outbox.createIndex({ job_id: 1, seq: 1 })]);
  const writer = new OrderedWriter<CallbackDelivery>({ log: settled, outbox }, log);
  const parse = parser(log);

  // callers go on changing their document: each write takes it as it is now
  const snapshot = (doc: CallbackDelivery): CallbackDelivery => ({ ...doc, attempts: [...doc.attempts] });
  // a redelivered callback is in the log already, at an older revision
  const logWrite = (doc: CallbackDelivery) => (doc.redelivered_at === null ? "insert" : "replace");

  return {
    open: (doc) => writer.write({ collection: "outbox", kind: "insert", doc: snapshot(doc) }),
    save: (doc) => writer.write({ collection: "outbox", kind: "replace", doc: snapshot(doc) }),
    async settle(doc) {
      await Promise.all([
        writer.write({ collection: "log", kind: logWrite(doc), doc: snapshot(doc) }),
        writer.write({ collection: "outbox", kind: "delete", id: doc._id }),
      ]);
    },
    logSettled: (doc) => writer.write({ collection: "log", kind: logWrite(doc), doc: snapshot(doc) }),
    barrier: () => writer.barrier(),
    async loadOpen() {
      const open = parse(await outbox.find({}).toArray());
      if (open.length === 0) return [];
      const logged = await settled
        .find({ _id: { $in: open.map((d) => d._id) } }, { projection: { _id: 1, revision: 1 } })
        .toArray();
      const loggedRevision = new Map(logged.map((d) => [d._id, d.revision]));
      const moved = open.filter((d) => (loggedRevision.get(d._id) ?? 0) >= d.revision);
      if (moved.length > 0) {
        await outbox.deleteMany({ _id: { $in: moved.map((d) => d._id) } });
        log.info({ callbacks: moved.length }, "finished moving settled callbacks out of the outbox");
      }
      return open.filter((d) => !moved.includes(d));
    },
    async loadJob(jobId) {
      const [logged, open] = await Promise.all([
        settled.find({ job_id: jobId }).toArray(),
        outbox.find({ job_id: jobId }).toArray(),
      ]);
      return latestRevisions([...parse(logged), ...parse(open)]);
    },
    async findLogged(callbackId) {
      const found = await settled.findOne({ _id: callbackId });
      return found ? (parse([found])[0] ?? null) : null;
    },
    async terminalDelivered(jobId) {
      const found = await settled.findOne(
        { job_id: jobId, type: { $in: TERMINAL_TYPES }, status: "delivered" },
        { projection: { _id: 1 } },
      );
      return found !== null;
    },
    close: () => writer.close(CLOSE_TIMEOUT_MS),
  };
}

function parser(log: Logger): (raw: unknown[]) => CallbackDelivery[] {
  return (raw) =>
    raw.flatMap((doc) => {
      const parsed = CallbackDelivery.safeParse(doc);
      if (parsed.success) return [parsed.data];
      const id = (doc as { _id?: unknown })._id;
      log.error({ callback_id: id, issues: parsed.error.issues.map((i) => i.path.join(".")) }, "unreadable delivery");
      return [];
    });
}
