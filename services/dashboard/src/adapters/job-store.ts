import { JOBS_COLLECTION, JobStatus, PROJECTION_DB, type JobRecord } from "@trainyard/contracts";
import type { Logger } from "@trainyard/runtime";
import { MongoServerError, type Collection, type Db, type MongoClient } from "mongodb";
import { z } from "zod";
import type { StatusCounts } from "../job-wire.js";
import { EPOCHS_COLLECTION, EpochRecord, JobSummaryDoc, ProjectedJob } from "../projected-job.js";
import type { JobChanges } from "../projection.js";

const DUPLICATE_KEY = 11000;
const FINISHED_STATUSES: JobStatus[] = ["completed", "failed", "cancelled"];

const SUMMARY_FIELDS = Object.fromEntries(Object.keys(JobSummaryDoc.shape).map((k) => [k, 1]));

/**
 * The job projection in MongoDB: `jobs` (one document per job) and `job_epochs` (its metric
 * history). Only plain find/update/aggregate, so FerretDB serves it as well as MongoDB (no
 * change streams, no transactions).
 */
export interface JobStore {
  get(jobId: string): Promise<ProjectedJob | null>;
  /** Creates the job's document unless it exists (a replay of `train.requested`); true when created. */
  insertIfMissing(record: JobRecord): Promise<boolean>;
  /**
   * Writes `changes` if the document is still the one they were computed from: same status (the
   * gateway may have cancelled it meanwhile) and same last event sequence (so a redelivered event,
   * or one another replica applied first, is never applied twice). True when it wrote.
   */
  update(jobId: string, changes: JobChanges, from: Pick<ProjectedJob, "status" | "last_event_seq">): Promise<boolean>;
  /** Writes an epoch's history row unless a later event already wrote that epoch. */
  recordEpoch(point: EpochRecord): Promise<void>;
  /** The job's history rows written after stream sequence `sinceSeq` (0: all), by epoch. */
  epochs(jobId: string, sinceSeq: number): Promise<EpochRecord[]>;
  /** Newest first. */
  listNewest(limit: number): Promise<JobSummaryDoc[]>;
  /** Every training job and every waiting job (oldest first), and the latest finished ones. */
  overviewJobs(finishedLimit: number): Promise<JobSummaryDoc[]>;
  countByStatus(): Promise<StatusCounts>;
  /** What start estimates need: `eta_seconds` of every training job, durations of the `recent` latest completed ones. */
  queueInputs(recent: number): Promise<{ runningEtas: Array<number | null>; recentDurations: number[] }>;
  ping(): Promise<void>;
}

/** Opens the collections and creates their indexes (idempotent). */
export async function openJobStore(client: MongoClient, log: Logger): Promise<JobStore> {
  const db: Db = client.db(PROJECTION_DB);
  const jobs: Collection<ProjectedJob> = db.collection<ProjectedJob>(JOBS_COLLECTION);
  const epochs: Collection<EpochRecord> = db.collection<EpochRecord>(EPOCHS_COLLECTION);
  // The gateway's list (status filter, newest first, ties by id) and this dashboard's overview.
  await jobs.createIndex({ status: 1, created_at: -1, _id: -1 });
  await jobs.createIndex({ created_at: -1, _id: -1 });
  await jobs.createIndex({ status: 1, finished_at: -1 });
  await epochs.createIndex({ job_id: 1, epoch: 1 });

  // A document the schema rejects is reported and treated as absent, never half-read.
  const parser =
    <T>(schema: z.ZodType<T>, what: string) =>
    (doc: unknown): T | null => {
      const result = schema.safeParse(doc);
      if (result.success) return result.data;
      const id = typeof doc === "object" && doc !== null && "_id" in doc ? String(doc._id) : undefined;
      log.error({ id, issues: result.error.issues }, `${what} document does not match its schema`);
      return null;
    };
  const parseJob = parser(ProjectedJob, "job");
  const parseSummary = parser(JobSummaryDoc, "job");
  const parseEpoch = parser(EpochRecord, "epoch");
  const present = <T>(value: T | null): value is T => value !== null;
  const summaries = async (filter: object, sort: Record<string, 1 | -1>, limit: number) =>
    (await jobs.find(filter, { projection: SUMMARY_FIELDS }).sort(sort).limit(limit).toArray())
      .map(parseSummary)
      .filter(present);

  return {
    async get(jobId) {
      const doc = await jobs.findOne({ _id: jobId });
      return doc ? parseJob(doc) : null;
    },
    async insertIfMissing(record) {
      // an insert, not an upsert with $setOnInsert: FerretDB drops null fields from the latter
      try {
        await jobs.insertOne(record as ProjectedJob);
        return true;
      } catch (err) {
        if (err instanceof MongoServerError && err.code === DUPLICATE_KEY) return false;
        throw err;
      }
    },
    async update(jobId, changes, from) {
      const result = await jobs.updateOne(
        { _id: jobId, status: from.status, last_event_seq: from.last_event_seq },
        { $set: changes },
      );
      return result.matchedCount === 1;
    },
    async recordEpoch(point) {
      try {
        // a new epoch is the common case, and one insert is the cheapest write
        await epochs.insertOne(point);
      } catch (err) {
        if (!(err instanceof MongoServerError && err.code === DUPLICATE_KEY)) throw err;
        // a repeated epoch replaces its row, unless that row came from this or a later event
        await epochs.replaceOne({ _id: point._id, seq: { $lt: point.seq } }, point);
      }
    },
    async epochs(jobId, sinceSeq) {
      const filter = sinceSeq > 0 ? { job_id: jobId, seq: { $gt: sinceSeq } } : { job_id: jobId };
      return (await epochs.find(filter).sort({ epoch: 1 }).toArray()).map(parseEpoch).filter(present);
    },
    listNewest: (limit) => summaries({}, { created_at: -1, _id: -1 }, limit),
    async overviewJobs(finishedLimit) {
      const [open, finished] = await Promise.all([
        summaries({ status: { $in: ["pending", "queued", "training"] } }, { created_at: 1, _id: 1 }, 5_000),
        summaries({ status: { $in: FINISHED_STATUSES } }, { finished_at: -1 }, finishedLimit),
      ]);
      return [...open, ...finished];
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
    async queueInputs(recent) {
      const [training, completed] = await Promise.all([
        jobs.find({ status: "training" }, { projection: { eta_seconds: 1 } }).toArray(),
        jobs
          .find({ status: "completed", duration_seconds: { $ne: null } }, { projection: { duration_seconds: 1 } })
          .sort({ finished_at: -1 })
          .limit(recent)
          .toArray(),
      ]);
      const finite = (n: unknown): n is number => typeof n === "number" && Number.isFinite(n);
      return {
        runningEtas: training.map((job) => (finite(job.eta_seconds) ? job.eta_seconds : null)),
        recentDurations: completed.map((job) => job.duration_seconds).filter(finite),
      };
    },
    async ping() {
      await db.command({ ping: 1 });
    },
  };
}
