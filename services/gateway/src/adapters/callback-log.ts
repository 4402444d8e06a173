import { MongoClient, type Collection } from "mongodb";
import {
  CALLBACK_DELIVERIES_COLLECTION,
  CALLBACK_OUTBOX_COLLECTION,
  CallbackDelivery,
  latestRevisions,
  PROJECTION_DB,
  type CallbackListQuery,
} from "@trainyard/contracts";
import { callDependency } from "./dependency.js";

/**
 * The gateway's read-only view of the notifier's callback delivery log (both collections:
 * open callbacks in the outbox, settled ones in the log). Every call fails with a
 * DependencyError when MongoDB fails or is slower than the configured timeout.
 */
export interface CallbackLog {
  /** One page of a job's callbacks in job order, and how many match in all. */
  list(jobId: string, query: CallbackListQuery): Promise<{ total: number; callbacks: CallbackDelivery[] }>;
  /** One callback of the job, or null when the job has none by that id. */
  get(jobId: string, callbackId: string): Promise<CallbackDelivery | null>;
  /** Whether the job's terminal callback (completed or failed) was delivered. */
  terminalDelivered(jobId: string): Promise<boolean>;
  close(): Promise<void>;
}

export async function connectCallbackLog(url: string, opts: { timeoutMs: number }): Promise<CallbackLog> {
  const client = await new MongoClient(url, {
    serverSelectionTimeoutMS: opts.timeoutMs,
    connectTimeoutMS: opts.timeoutMs,
  }).connect();
  const db = client.db(PROJECTION_DB);
  const collections: Array<Collection<CallbackDelivery>> = [
    db.collection<CallbackDelivery>(CALLBACK_DELIVERIES_COLLECTION),
    db.collection<CallbackDelivery>(CALLBACK_OUTBOX_COLLECTION),
  ];
  const call = <T>(work: () => Promise<T>) => callDependency("mongodb", opts.timeoutMs, work);
  /** Documents that do not read as a delivery (a newer notifier's, say) are left out, not fatal. */
  const readable = (docs: unknown[]) =>
    docs.flatMap((doc) => {
      const parsed = CallbackDelivery.safeParse(doc);
      return parsed.success ? [parsed.data] : [];
    });
  const ofJob = async (jobId: string) =>
    latestRevisions(readable((await Promise.all(collections.map((c) => c.find({ job_id: jobId }).toArray()))).flat()));

  return {
    list: (jobId, { status, limit, offset }) =>
      call(async () => {
        const all = (await ofJob(jobId)).filter((d) => status === undefined || d.status === status);
        return { total: all.length, callbacks: all.slice(offset, offset + limit) };
      }),
    get: (jobId, callbackId) =>
      call(async () => {
        const found = readable(
          (await Promise.all(collections.map((c) => c.find({ _id: callbackId, job_id: jobId }).toArray()))).flat(),
        );
        return latestRevisions(found)[0] ?? null;
      }),
    terminalDelivered: (jobId) =>
      call(async () => {
        const terminal = (await ofJob(jobId)).find(
          (d) => d.type === "training_completed" || d.type === "training_failed",
        );
        return terminal?.status === "delivered";
      }),
    close: () => client.close(),
  };
}
