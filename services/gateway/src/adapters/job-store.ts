import { MongoClient, MongoServerError, type Collection } from "mongodb";
import { JOBS_COLLECTION, JobStatus, PROJECTION_DB, type JobRecord } from "@trainyard/contracts";
import { callDependency } from "./dependency.js";

const DUPLICATE_KEY = 11000;

/** The fields of a job a list page shows. */
export type JobSummaryRecord = Pick<JobRecord, "_id" | "model_name" | "status" | "progress" | "created_at">;

export type StatusCounts = Record<JobStatus, number>;

/**
 * The gateway's view of the MongoDB job projection: it inserts new jobs, cancels them and reads
 * the rest. Every call fails with a DependencyError when MongoDB fails or is slower than the
 * configured timeout.
 */
export interface JobStore {
  /** False when a job with this id already exists (the unique `_id`, across all replicas). */
  insert(record: JobRecord): Promise<boolean>;
  /** Deletes the job only if it is the document inserted at `createdAt`, never another replica's. */
  remove(jobId: string, createdAt: Date): Promise<void>;
  get(jobId: string): Promise<JobRecord | null>;
  count(status: JobStatus): Promise<number>;
  countByStatus(): Promise<StatusCounts>;
  /** One page of jobs, newest first (ties by id), and how many match in all. */
  list(query: { status?: JobStatus | undefined; limit: number; offset: number }): Promise<{
    total: number;
    jobs: JobSummaryRecord[];
  }>;
  /** `eta_seconds` of every training job (null where no epoch has reported one yet). */
  runningEtas(): Promise<Array<number | null>>;
  /** `duration_seconds` of the `limit` most recently finished completed jobs. */
  recentDurations(limit: number): Promise<number[]>;
  /** `duration_seconds` of every completed job. */
  completedDurations(): Promise<number[]>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export async function connectJobStore(url: string, opts: { timeoutMs: number }): Promise<JobStore> {
  const client = await new MongoClient(url, {
    serverSelectionTimeoutMS: opts.timeoutMs,
    connectTimeoutMS: opts.timeoutMs,
  }).connect();
  const db = client.db(PROJECTION_DB);
  const jobs: Collection<JobRecord> = db.collection<JobRecord>(JOBS_COLLECTION);
  await jobs.createIndex({ status: 1, created_at: 1 });
  await jobs.createIndex({ created_at: -1 });
  const call = <T>(work: () => Promise<T>) => callDependency("mongodb", opts.timeoutMs, work);
  const durations = (docs: Array<Pick<JobRecord, "duration_seconds">>) =>
    docs.map((d) => d.duration_seconds).filter((d): d is number => typeof d === "number" && Number.isFinite(d));

  return {
    insert: (record) =>
      call(async () => {
        try {
          await jobs.insertOne(record);
          return true;
        } catch (err) {
          if (err instanceof MongoServerError && err.code === DUPLICATE_KEY) return false;
          throw err;
        }
      }),
    remove: (jobId, createdAt) =>
      call(async () => {
        await jobs.deleteOne({ _id: jobId, created_at: createdAt });
      }),
    get: (jobId) => call(() => jobs.findOne({ _id: jobId })),
    count: (status) => call(() => jobs.countDocuments({ status })),
    countByStatus: () =>
      call(async () => {
        const counts = await Promise.all(JobStatus.options.map((status) => jobs.countDocuments({ status })));
        return Object.fromEntries(JobStatus.options.map((status, i) => [status, counts[i] ?? 0])) as StatusCounts;
      }),
    list: ({ status, limit, offset }) =>
      call(async () => {
        const filter = status ? { status } : {};
        const [total, page] = await Promise.all([
          jobs.countDocuments(filter),
          jobs
            .find(filter, { projection: { _id: 1, model_name: 1, status: 1, progress: 1, created_at: 1 } })
            .sort({ created_at: -1, _id: -1 })
            .skip(offset)
            .limit(limit)
            .toArray(),
        ]);
        return { total, jobs: page };
      }),
    runningEtas: () =>
      call(async () => {
        const running = await jobs.find({ status: "training" }, { projection: { eta_seconds: 1 } }).toArray();
        return running.map((job) => (typeof job.eta_seconds === "number" ? job.eta_seconds : null));
      }),
    recentDurations: (limit) =>
      call(async () =>
        durations(
          await jobs
            .find({ status: "completed", duration_seconds: { $ne: null } }, { projection: { duration_seconds: 1 } })
            .sort({ finished_at: -1 })
            .limit(limit)
            .toArray(),
        ),
      ),
    completedDurations: () =>
      call(async () =>
        durations(
          await jobs
            .find({ status: "completed", duration_seconds: { $ne: null } }, { projection: { duration_seconds: 1 } })
            .toArray(),
        ),
      ),
    ping: () =>
      call(async () => {
        await db.command({ ping: 1 });
      }),
    close: () => client.close(),
  };
}
