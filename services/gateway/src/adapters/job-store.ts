import { MongoClient, MongoServerError, type Collection } from "mongodb";
import { JOBS_COLLECTION, PROJECTION_DB, type JobRecord, type JobStatus } from "@trainyard/contracts";

const DUPLICATE_KEY = 11000;

/** The gateway's view of the MongoDB job projection: it inserts new jobs and reads the rest. */
export interface JobStore {
  /** False when a job with this id already exists. */
  insert(record: JobRecord): Promise<boolean>;
  remove(jobId: string): Promise<void>;
  get(jobId: string): Promise<JobRecord | null>;
  count(status: JobStatus): Promise<number>;
  close(): Promise<void>;
}

export async function connectJobStore(url: string): Promise<JobStore> {
  const client = await new MongoClient(url).connect();
  const jobs: Collection<JobRecord> = client.db(PROJECTION_DB).collection<JobRecord>(JOBS_COLLECTION);
  await jobs.createIndex({ status: 1, created_at: 1 });
  return {
    async insert(record) {
      try {
        await jobs.insertOne(record);
        return true;
      } catch (err) {
        if (err instanceof MongoServerError && err.code === DUPLICATE_KEY) return false;
        throw err;
      }
    },
    async remove(jobId) {
      await jobs.deleteOne({ _id: jobId });
    },
    get: (jobId) => jobs.findOne({ _id: jobId }),
    count: (status) => jobs.countDocuments({ status }),
    close: () => client.close(),
  };
}
