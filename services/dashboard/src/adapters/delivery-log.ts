import {
  CALLBACK_DELIVERIES_COLLECTION,
  CALLBACK_OUTBOX_COLLECTION,
  CallbackDelivery,
  PROJECTION_DB,
} from "@trainyard/contracts";
import type { Logger } from "@trainyard/runtime";
import type { MongoClient } from "mongodb";

/** Most callbacks listed per job: the newest ones (a 1,000-epoch job sends a thousand progress callbacks). */
export const DELIVERIES_PER_JOB = 200;

/** Reads the notifier's callback delivery log; never writes it. */
export interface DeliveryLog {
  /** The latest callbacks of each job, in job order (oldest first). */
  forJobs(jobIds: readonly string[]): Promise<Map<string, CallbackDelivery[]>>;
}

/**
 * The log is two collections: the outbox (callbacks still to deliver) and the settled history.
 * A callback may sit in both for a moment (while it moves, or when an operator redelivers it);
 * the copy with the higher revision is the current one.
 */
export function openDeliveryLog(client: MongoClient, log: Logger): DeliveryLog {
  const db = client.db(PROJECTION_DB);
  const collections = [CALLBACK_OUTBOX_COLLECTION, CALLBACK_DELIVERIES_COLLECTION].map((name) =>
    db.collection<CallbackDelivery>(name),
  );
  const latest = async (jobId: string): Promise<CallbackDelivery[]> => {
    const found = await Promise.all(
      collections.map((c) => c.find({ job_id: jobId }).sort({ seq: -1 }).limit(DELIVERIES_PER_JOB).toArray()),
    );
    const current = new Map<string, CallbackDelivery>();
    for (const doc of found.flat()) {
      const parsed = CallbackDelivery.safeParse(doc);
      if (!parsed.success) {
        log.warn({ job_id: jobId, id: doc._id, issues: parsed.error.issues }, "delivery does not match its schema");
        continue;
      }
      const held = current.get(parsed.data._id);
      if (!held || parsed.data.revision > held.revision) current.set(parsed.data._id, parsed.data);
    }
    return [...current.values()].sort((a, b) => a.seq - b.seq).slice(-DELIVERIES_PER_JOB);
  };
  return {
    async forJobs(jobIds) {
      const lists = await Promise.all(jobIds.map(latest));
      return new Map(jobIds.map((id, i) => [id, lists[i] ?? []]));
    },
  };
}
