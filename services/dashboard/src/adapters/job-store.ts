import { JOBS_COLLECTION, JobRecord, JobStatus, PROJECTION_DB } from "@trainyard/contracts";
import type { Logger } from "@trainyard/runtime";
import { MongoClient, type Collection } from "mongodb";
import type { StatusCounts } from "../job-wire.js";
import type { JobChanges } from "../projection.js";

/**
 * The job projection in MongoDB. Only plain find/update/aggregate, so FerretDB serves it as well
 * as MongoDB (no change streams, no transactions).
 */
export interface JobStore {
  get(jobId: string): Promise<JobRecord | null>;
  /** Newest first. */
  listNewest(limit: number): Promise<JobRecord[]>;
  countByStatus(): Promise<StatusCounts>;
  /**
   * Writes `changes` unless the document already holds `changes.last_event_seq` or a later one,
   * which makes a redelivered event a no-op even across restarts, or its status is no longer
   * `expectedStatus` (the gateway cancelled it meanwhile). True when it wrote.
   */
  update(jobId: string, changes: JobChanges, expectedStatus: JobStatus): Promise<boolean>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export async function connectJobStore(url: string, log: Logger): Promise<JobStore> {
  const client = await MongoClient.connect(url, { serverSelectionTimeoutMS: 10_000 });
  const db = client.db(PROJECTION_DB);
  const jobs: Collection<JobRecord> = db.collection<JobRecord>(JOBS_COLLECTION);
  await jobs.createIndex({ created_at: -1 });

  // A document the schema rejects is reported and treated as absent, never half-read.
  const parse = (doc: unknown): JobRecord | null => {
    const result = JobRecord.safeParse(doc);
    if (result.success) return result.data;
    const id = typeof doc === "object" && doc !== null && "_id" in doc ? String(doc._id) : undefined;
    log.error({ job_id: id, issues: result.error.issues }, "job document does not match JobRecord");
    return null;
  };

  return {
    async get(jobId) {
      const doc = await jobs.findOne({ _id: jobId });
      return doc ? parse(doc) : null;
    },
    async listNewest(limit) {
      const docs = await jobs.find({}).sort({ created_at: -1 }).limit(limit).toArray();
      return docs.map(parse).filter((r): r is JobRecord => r !== null);
    },
    async countByStatus() {
      const counts = Object.fromEntries(JobStatus.options.map((s) => [s, 0])) as StatusCounts;
      const groups = await jobs
        .aggregate<{ _id: unknown; n: number }>([{ $group: { _id: "$status", n: { $sum: 1 } } }])
        .toArray();
      for (const { _id, n } of groups) {
        const status = JobStatus.safeParse(_id);
        if (status.success) counts[status.data] = n;
      }
      return counts;
    },
    async update(jobId, changes, expectedStatus) {
      const result = await jobs.updateOne(
        { _id: jobId, status: expectedStatus, last_event_seq: { $lt: changes.last_event_seq } },
        { $set: changes },
      );
      return result.matchedCount === 1;
    },
    async ping() {
      await db.command({ ping: 1 });
    },
    async close() {
      await client.close();
    },
  };
}
