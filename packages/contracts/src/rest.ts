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

/** `POST /api/v1/train` body (PRD 4.1). Unknown fields are dropped, not rejected. */
export const TrainRequest = z.object({
  job_id: z.uuid(),
  callback_url: httpUrl,
  callback_secret: z.string().min(1).max(512),
  model_config: ModelConfig,
  dataset: DatasetSource,
  resources: ResourceRequest.optional(),
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
});
export type JobView = z.infer<typeof JobView>;
