import { z } from "zod";
import { DatasetInfo, FinalMetrics, JobError } from "./callbacks.js";
import { JobMetrics, JobPhase, JobStatus, ModelConfig, ResourceRequest } from "./rest.js";
import { Slot } from "./events.js";

/** MongoDB database and collection of the job projection. */
export const PROJECTION_DB = "trainyard";
export const JOBS_COLLECTION = "jobs";

/**
 * A job document in the projection. The gateway inserts it (status `queued`, which makes a
 * duplicate job id a unique-key conflict); after that only the dashboard's projector writes it,
 * applying job events in stream order (`last_event_seq` makes a redelivery a no-op).
 */
export const JobRecord = z.object({
  _id: z.uuid(),
  model_name: z.string(),
  status: JobStatus,
  phase: JobPhase.nullable(),
  progress: z.number().min(0).max(100),
  current_epoch: z.int().nullable(),
  total_epochs: z.int(),
  metrics: JobMetrics.nullable(),
  eta_seconds: z.number().nullable(),
  created_at: z.date(),
  started_at: z.date().nullable(),
  finished_at: z.date().nullable(),
  /** Training time reported by the agent for a completed job. */
  duration_seconds: z.number().nullable().default(null),
  model_config: ModelConfig,
  resources: ResourceRequest.nullable(),
  dataset_info: DatasetInfo.nullable(),
  agent_id: z.string().nullable(),
  slot: Slot.nullable(),
  final_metrics: FinalMetrics.nullable(),
  model_object: z.string().nullable(),
  error: JobError.nullable(),
  last_event_seq: z.int(),
});
export type JobRecord = z.infer<typeof JobRecord>;

/** The document the gateway inserts when it accepts a job; the projector owns it afterwards. */
export function newJobRecord(req: {
  job_id: string;
  model_config: JobRecord["model_config"];
  resources?: JobRecord["resources"] | undefined;
  now: Date;
}): JobRecord {
  return {
    _id: req.job_id,
    model_name: req.model_config.name,
    status: "queued",
    phase: null,
    progress: 0,
    current_epoch: null,
    total_epochs: req.model_config.epochs,
    metrics: null,
    eta_seconds: null,
    created_at: req.now,
    started_at: null,
    finished_at: null,
    duration_seconds: null,
    model_config: req.model_config,
    resources: req.resources ?? null,
    dataset_info: null,
    agent_id: null,
    slot: null,
    final_metrics: null,
    model_object: null,
    error: null,
    last_event_seq: 0,
  };
}
