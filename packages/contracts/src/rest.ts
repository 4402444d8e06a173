import { z } from "zod";

/** Job lifecycle statuses (PRD 4.3). */
export const JobStatus = z.enum(["pending", "queued", "training", "completed", "failed", "cancelled"]);
export type JobStatus = z.infer<typeof JobStatus>;

/** Phases inside a job (PRD 3.2). */
export const JobPhase = z.enum(["downloading", "preparing", "training", "validating"]);
export type JobPhase = z.infer<typeof JobPhase>;

const unit = z.number().min(0).max(1);

/** Ultralytics augmentation hyper-parameters the PRD lets the app set (PRD 4.1). */
export const Augmentation = z.object({
  hsv_h: unit.optional(),
  hsv_s: unit.optional(),
  hsv_v: unit.optional(),
  degrees: z.number().min(-180).max(180).optional(),
  translate: unit.optional(),
  scale: z.number().min(0).max(10).optional(),
  shear: z.number().min(-180).max(180).optional(),
  perspective: z.number().min(0).max(0.001).optional(),
  flipud: unit.optional(),
  fliplr: unit.optional(),
  mosaic: unit.optional(),
  mixup: unit.optional(),
});
export type Augmentation = z.infer<typeof Augmentation>;

export const Optimizer = z.enum(["SGD", "Adam", "Adamax", "AdamW", "NAdam", "RAdam", "RMSProp", "auto"]);
export type Optimizer = z.infer<typeof Optimizer>;

/** A base model is a weights file name or an architecture yaml, never a path or URL. */
export const BaseModel = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}\.(pt|yaml)$/, "must be a model file name such as yolov8n.pt");

export const ModelConfig = z.object({
  name: z.string().min(1).max(128),
  base_model: BaseModel,
  epochs: z.int().min(1).max(1000),
  batch_size: z.int().min(1).max(1024),
  image_size: z.int().min(32).max(4096),
  learning_rate: z.number().positive().max(1),
  optimizer: Optimizer.optional(),
  augmentation: Augmentation.optional(),
});
export type ModelConfig = z.infer<typeof ModelConfig>;

const httpUrl = z.url({ protocol: /^https?$/, hostname: z.regexes.hostname });

export const DatasetSource = z.object({
  url: httpUrl,
  format: z.literal("yolo"),
  expected_structure: z.record(z.string(), z.boolean()).optional(),
});
export type DatasetSource = z.infer<typeof DatasetSource>;

export const ResourceRequest = z.object({
  device: z
    .string()
    .regex(/^(cpu|cuda(:\d+)?|\d+)$/, "must be cpu, cuda or cuda:N")
    .optional(),
  workers: z.int().min(0).max(64).optional(),
  max_memory_gb: z.number().positive().max(4096).optional(),
});
export type ResourceRequest = z.infer<typeof ResourceRequest>;

/** A job's id: a UUID the app chooses (PRD 4.1); also the `{job_id}` of the job routes. */
export const JobId = z.uuid();
export type JobId = z.infer<typeof JobId>;

export const JobPriority = z.enum(["low", "normal", "high"]);
export type JobPriority = z.infer<typeof JobPriority>;

/** `POST /api/v1/train` body (PRD 4.1). Unknown fields are dropped, not rejected. */
export const TrainRequest = z.object({
  job_id: JobId,
  callback_url: httpUrl,
  callback_secret: z.string().min(1).max(512),
  model_config: ModelConfig,
  dataset: DatasetSource,
  resources: ResourceRequest.optional(),
  /** Trainyard extension: queue priority; jobs of equal priority run in arrival order. */
  priority: JobPriority.optional(),
});
export type TrainRequest = z.infer<typeof TrainRequest>;

/** `202` answer to `POST /api/v1/train` (PRD 4.1, 7.1). */
export const TrainAccepted = z.object({
  job_id: z.uuid(),
  status: z.literal("queued"),
  message: z.string(),
  estimated_start_time: z.iso.datetime(),
});
export type TrainAccepted = z.infer<typeof TrainAccepted>;

/** Per-epoch metrics, keyed as Ultralytics and the PRD name them. */
export const EpochMetrics = z.object({
  box_loss: z.number().nullable(),
  cls_loss: z.number().nullable(),
  dfl_loss: z.number().nullable(),
  precision: z.number().nullable(),
  recall: z.number().nullable(),
  mAP50: z.number().nullable(),
  "mAP50-95": z.number().nullable(),
});
export type EpochMetrics = z.infer<typeof EpochMetrics>;

export const BestMetrics = z.object({
  mAP50: z.number().nullable(),
  "mAP50-95": z.number().nullable(),
  epoch: z.int(),
});
export type BestMetrics = z.infer<typeof BestMetrics>;

export const JobMetrics = z.object({
  current: EpochMetrics.nullable(),
  best: BestMetrics.nullable(),
});
export type JobMetrics = z.infer<typeof JobMetrics>;

/**
 * Trainyard extension for a job that has not started (status `queued`), read from the scheduler's
 * queue; absent for other statuses, and while the queue's state cannot be read.
 */
const QueuePlaceFields = {
  queue_position: z
    .int()
    .min(1)
    .nullable()
    .optional()
    .describe(
      "Queued jobs only: 1-based place in the scheduler's queue (priority, then arrival). Null while the " +
        "job's dataset is still being downloaded and validated (it joins the queue after that), and once " +
        "a slot is assigned.",
    ),
  estimated_start_time: z.iso
    .datetime()
    .optional()
    .describe(
      "Queued jobs only: when the job is expected to start, from the running jobs' ETAs, the live agents' " +
        "slots and a typical job's length. A job not in the queue yet is taken to join it behind every " +
        "waiting job.",
    ),
};

/** `GET /api/v1/jobs/{id}` answer (PRD 7.2). */
export const JobView = z.object({
  job_id: z.uuid(),
  status: JobStatus,
  progress: z.number().min(0).max(100),
  current_epoch: z.int().nullable(),
  total_epochs: z.int(),
  metrics: JobMetrics.nullable(),
  created_at: z.iso.datetime(),
  started_at: z.iso.datetime().nullable(),
  eta_seconds: z.number().nullable(),
  ...QueuePlaceFields,
});
export type JobView = z.infer<typeof JobView>;

/** `DELETE /api/v1/jobs/{id}` answer (PRD 7.3); the same body however often a job is cancelled. */
export const JobCancelled = z.object({
  job_id: z.uuid(),
  status: z.literal("cancelled"),
  message: z.string(),
});
export type JobCancelled = z.infer<typeof JobCancelled>;

/**
 * `GET /api/v1/jobs` query (PRD 7.4). Query strings carry text: the gateway turns a plain
 * decimal (`"50"`) into a number before parsing, anything else fails as the wrong type.
 */
export const JobListQuery = z.object({
  status: JobStatus.optional(),
  limit: z.int().min(1).max(100).default(50),
  offset: z.int().min(0).max(1_000_000).default(0),
});
export type JobListQuery = z.infer<typeof JobListQuery>;

/** One job of a `GET /api/v1/jobs` page (PRD 7.4). */
export const JobSummary = z.object({
  job_id: z.uuid(),
  model_name: z.string(),
  status: JobStatus,
  progress: z.number().min(0).max(100),
  created_at: z.iso.datetime(),
  ...QueuePlaceFields,
});
export type JobSummary = z.infer<typeof JobSummary>;

/** `GET /api/v1/jobs` answer (PRD 7.4): every matching job counted, one page of them newest first. */
export const JobList = z.object({
  total: z.int().min(0),
  jobs: z.array(JobSummary),
});
export type JobList = z.infer<typeof JobList>;

/** One dependency as `GET /health` found it; `error` is a short safe reason, never a URL. */
export const DependencyCheck = z.object({
  status: z.enum(["up", "down"]),
  latency_ms: z.number().min(0).nullable(),
  error: z.string().optional(),
});
export type DependencyCheck = z.infer<typeof DependencyCheck>;

/** The trainer-agents whose heartbeats are live; `down` when there is none. */
export const AgentsCheck = z.object({
  status: z.enum(["up", "down"]),
  live_agents: z.int().min(0),
  slots: z.int().min(0),
});
export type AgentsCheck = z.infer<typeof AgentsCheck>;

/**
 * `GET /health` answer (PRD 7.5), plus the checks behind it. `healthy`: NATS, MongoDB and at
 * least one agent are up; `degraded` (still 200): no live agent, so jobs wait; `unhealthy`
 * (503): NATS or MongoDB is down. A count that could not be read is null.
 */
export const Health = z.object({
  status: z.enum(["healthy", "degraded", "unhealthy"]),
  timestamp: z.iso.datetime(),
  version: z.string(),
  gpu_available: z.boolean(),
  active_jobs: z.int().min(0).nullable(),
  queue_size: z.int().min(0).nullable(),
  checks: z.object({ nats: DependencyCheck, mongodb: DependencyCheck, agents: AgentsCheck }),
});
export type Health = z.infer<typeof Health>;
