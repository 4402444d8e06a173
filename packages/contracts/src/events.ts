import { z } from "zod";
import { DatasetInfo, FinalMetrics, JobError, ResourceReadings } from "./callbacks.js";
import { EpochMetrics, JobMetrics, JobPhase, TrainRequest } from "./rest.js";

/** `train.requested`: the REST request minus the callback target, which lives in a KV bucket. */
export const TrainRequested = TrainRequest.omit({ callback_url: true, callback_secret: true }).extend({
  requested_at: z.iso.datetime(),
});
export type TrainRequested = z.infer<typeof TrainRequested>;

/** Image folders of each split, relative to the dataset root, as validated (`/`-separated). */
export const DatasetSplits = z.object({
  train: z.array(z.string()).min(1),
  val: z.array(z.string()).min(1),
  test: z.array(z.string()).optional(),
});
export type DatasetSplits = z.infer<typeof DatasetSplits>;

/** `train.dataset.ready`: the archive passed validation and sits in the datasets object store. */
export const DatasetReady = TrainRequested.extend({
  /** Object in the datasets store, named by content digest (`sha256/<hex>.zip`). */
  dataset_object: z.string(),
  /** Folder inside the archive that holds data.yaml, "" for the archive root. */
  dataset_root: z.string(),
  dataset_sha256: z.string().regex(/^[0-9a-f]{64}$/),
  dataset_info: DatasetInfo,
  /** The validated split folders; agents write data.yaml's train/val/test from them. */
  dataset_splits: DatasetSplits.optional(),
  /** Problems accepted by the lenient validation mode (files Ultralytics will skip). */
  dataset_warnings: z.array(z.string()).optional(),
});
export type DatasetReady = z.infer<typeof DatasetReady>;

/** One training slot of an agent: a GPU, or the CPU on a host without one. */
export const Slot = z.object({
  index: z.int().min(0),
  device: z.string(),
  name: z.string(),
});
export type Slot = z.infer<typeof Slot>;

/** `train.assign.<agent>`: the scheduler gives one job to one slot of one agent. */
export const JobAssignment = DatasetReady.extend({
  agent_id: z.string(),
  slot: Slot,
  assigned_at: z.iso.datetime(),
  /** 1 for the first run; a job re-queued after its agent was lost runs again with attempt + 1. */
  attempt: z.int().min(1).default(1),
  /** Checkpoint (artifacts object name of a last.pt) to resume from, after a lost agent. */
  resume_from: z.string().nullable().default(null),
});
export type JobAssignment = z.infer<typeof JobAssignment>;

/** One GPU's readings at heartbeat time (nvidia-smi); absent on hosts without a GPU. */
export const GpuReading = z.object({
  device: z.string(),
  name: z.string(),
  utilization_percent: z.number().nullable(),
  memory_used_bytes: z.number().nullable(),
  memory_total_bytes: z.number().nullable(),
  temperature_c: z.number().nullable(),
});
export type GpuReading = z.infer<typeof GpuReading>;

/** Heartbeat an agent writes to the agents bucket; the scheduler reads capacity from it. */
export const AgentHeartbeat = z.object({
  agent_id: z.string(),
  host: z.string(),
  slots: z.array(Slot),
  gpus: z.array(GpuReading).default([]),
  /** A draining agent finishes its jobs and takes no new one. */
  draining: z.boolean().default(false),
  started_at: z.iso.datetime(),
  seen_at: z.iso.datetime(),
});
export type AgentHeartbeat = z.infer<typeof AgentHeartbeat>;

/** Value of the assignments bucket. */
export const SlotLease = z.object({
  job_id: z.uuid(),
  agent_id: z.string(),
  slot_index: z.int().min(0),
  assigned_at: z.iso.datetime(),
});
export type SlotLease = z.infer<typeof SlotLease>;

const base = { job_id: z.uuid(), at: z.iso.datetime() };

/** The gateway accepted the job; it waits for its dataset and a slot. */
export const JobQueuedEvent = z.object({
  ...base,
  type: z.literal("queued"),
  model_name: z.string(),
  total_epochs: z.int().min(1),
});

export const JobAssignedEvent = z.object({
  ...base,
  type: z.literal("assigned"),
  agent_id: z.string(),
  slot: Slot,
});

export const JobPhaseEvent = z.object({
  ...base,
  type: z.literal("phase"),
  phase: JobPhase,
  percentage: z.number().min(0).max(100),
  total_epochs: z.int(),
  dataset_info: DatasetInfo.optional(),
  /** `downloading` only: archive bytes received so far. */
  bytes_downloaded: z.int().min(0).optional(),
  /** `downloading` only: the archive's size when the server declared it. */
  bytes_total: z.int().min(0).nullable().optional(),
  /** Problems accepted by the lenient validation mode, sent with `dataset_info`. */
  dataset_warnings: z.array(z.string()).optional(),
});

export const JobEpochEvent = z.object({
  ...base,
  type: z.literal("epoch"),
  epoch: z.int().min(1),
  total_epochs: z.int().min(1),
  percentage: z.number().min(0).max(100),
  eta_seconds: z.number().nullable(),
  metrics: JobMetrics,
  resources: ResourceReadings,
});

/** Artifacts of a finished job: object names in the artifacts store, null when not produced. */
export const ArtifactObjects = z.object({
  confusion_matrix: z.string().nullable(),
  pr_curve: z.string().nullable(),
  f1_curve: z.string().nullable(),
  results_csv: z.string().nullable(),
  training_logs: z.string().nullable(),
});
export type ArtifactObjects = z.infer<typeof ArtifactObjects>;

export const JobCompletedEvent = z.object({
  ...base,
  type: z.literal("completed"),
  started_at: z.iso.datetime(),
  duration_seconds: z.number().min(0),
  model: z.object({ name: z.string(), object_name: z.string(), size_bytes: z.int().min(0) }),
  final_metrics: FinalMetrics,
  artifacts: ArtifactObjects,
  dataset_info: DatasetInfo,
});

export const JobFailedEvent = z.object({
  ...base,
  type: z.literal("failed"),
  error: JobError,
  partial_metrics: EpochMetrics.nullable(),
});

/** Everything published on `job.events.<job_id>.<type>`. */
export const JobEvent = z.discriminatedUnion("type", [
  JobQueuedEvent,
  JobAssignedEvent,
  JobPhaseEvent,
  JobEpochEvent,
  JobCompletedEvent,
  JobFailedEvent,
]);
export type JobEvent = z.infer<typeof JobEvent>;
export type JobEventOf<T extends JobEvent["type"]> = Extract<JobEvent, { type: T }>;

/**
 * A job's one outcome, as claimed in the job-outcomes bucket before its terminal event is
 * published (a `failed` event with code CANCELLED is a cancellation).
 */
export const JobOutcome = z.enum(["completed", "failed", "cancelled"]);
export type JobOutcome = z.infer<typeof JobOutcome>;

/** A job's terminal event: `completed`, or `failed` (a cancellation included). */
export const TerminalJobEvent = z.discriminatedUnion("type", [JobCompletedEvent, JobFailedEvent]);
export type TerminalJobEvent = z.infer<typeof TerminalJobEvent>;

/**
 * Value of the job-outcomes bucket (JSON). A bare outcome (`"completed"`), as written before runs
 * were numbered, reads as a claim that names no run.
 */
export const JobOutcomeRecord = z.object({
  /** The job's one outcome; null while the record only fences runs out (see `fence`). */
  outcome: JobOutcome.nullable(),
  /**
   * The run (the scheduler's `attempt`) whose agent claimed the outcome; null when the gateway,
   * the dataset service or the scheduler claimed it. A download resolves to this run's files.
   */
  attempt: z.int().min(1).nullable(),
  /**
   * Runs before this attempt are superseded: the scheduler placed this one after their agent was
   * lost, and such a run can claim nothing any more (written before the new run is announced).
   */
  fence: z.int().min(1).nullable(),
  /**
   * The claiming agent's terminal event. Should that agent die between its claim and its publish,
   * the job's next run publishes this event (the one terminal message id dedupes it) instead of
   * training again: the job ends as its claim said, with the files of the run that claimed it.
   */
  event: TerminalJobEvent.nullable(),
});
export type JobOutcomeRecord = z.infer<typeof JobOutcomeRecord>;

/** The outcome a terminal job event reports. */
export function outcomeOf(event: JobEventOf<"completed" | "failed">): JobOutcome {
  if (event.type === "completed") return "completed";
  return event.error.code === "CANCELLED" ? "cancelled" : "failed";
}

/** A job's CANCELLED failure (PRD 17.4), as the gateway, the scheduler and agents report it. */
export function cancelledEvent(
  jobId: string,
  at: Date,
  where: Pick<JobError, "details" | "phase" | "epoch"> & { partial_metrics: EpochMetrics | null },
): JobEventOf<"failed"> {
  const { partial_metrics, ...error } = where;
  return {
    type: "failed",
    job_id: jobId,
    at: at.toISOString(),
    error: { code: "CANCELLED", message: "Training job cancelled by the user", ...error },
    partial_metrics,
  };
}

/** Value of the callback-targets bucket: where and with what key a job's callbacks go. */
export const CallbackTarget = z.object({
  url: z.url({ protocol: /^https?$/ }),
  secret: z.string().min(1),
});
export type CallbackTarget = z.infer<typeof CallbackTarget>;

/** Value of the cancellations bucket. */
export const CancellationRequest = z.object({
  job_id: z.uuid(),
  requested_at: z.iso.datetime(),
});
export type CancellationRequest = z.infer<typeof CancellationRequest>;

/**
 * Value of the queue bucket (owner: scheduler): a dataset-ready job, waiting for a slot or
 * running on one, until its terminal event. Waiting jobs are placed in priority order, then
 * by `seq` (arrival); a job whose agent is lost goes back to waiting with its old `seq`.
 */
export const QueueEntry = z.object({
  job: DatasetReady,
  priority: z.enum(["low", "normal", "high"]),
  seq: z.int().min(0),
  enqueued_at: z.iso.datetime(),
  attempt: z.int().min(1),
  resume_from: z.string().nullable(),
  /** Null while the job waits; the slot it runs on once placed (until its terminal event). */
  placement: z.object({ agent_id: z.string(), slot: Slot, assigned_at: z.iso.datetime() }).nullable(),
});
export type QueueEntry = z.infer<typeof QueueEntry>;

/** Value of the scheduler-leader bucket: the one scheduler replica that places jobs. */
export const SchedulerLeader = z.object({
  replica_id: z.string(),
  since: z.iso.datetime(),
});
export type SchedulerLeader = z.infer<typeof SchedulerLeader>;
