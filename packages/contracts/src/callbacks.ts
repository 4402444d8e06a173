import { z } from "zod";
import { ErrorCode } from "./errors.js";
import { EpochMetrics, JobMetrics, JobPhase } from "./rest.js";

/** Headers on every callback POST (PRD 4.2), plus the Standard Webhooks signature headers. */
export const CallbackHeader = {
  secret: "X-Callback-Secret",
  jobId: "X-Job-ID",
  type: "X-Callback-Type",
  webhookId: "webhook-id",
  webhookTimestamp: "webhook-timestamp",
  webhookSignature: "webhook-signature",
} as const;

export const CallbackType = z.enum(["training_progress", "training_completed", "training_failed"]);
export type CallbackType = z.infer<typeof CallbackType>;

/** GPU readings; null where the host has no GPU or the reading is unavailable. */
export const ResourceReadings = z.object({
  gpu_utilization: z.number().nullable(),
  memory_used_gb: z.number().nullable(),
  temperature_c: z.number().nullable(),
});
export type ResourceReadings = z.infer<typeof ResourceReadings>;

/** `training_progress` callback (PRD 4.2.1). */
export const TrainingProgressCallback = z.object({
  type: z.literal("training_progress"),
  job_id: z.uuid(),
  timestamp: z.iso.datetime(),
  progress: z.object({
    percentage: z.number().min(0).max(100),
    current_epoch: z.int().nullable(),
    total_epochs: z.int(),
    phase: JobPhase,
    eta_seconds: z.number().nullable(),
  }),
  metrics: JobMetrics,
  resources: ResourceReadings,
});
export type TrainingProgressCallback = z.infer<typeof TrainingProgressCallback>;

export const FinalMetrics = z.object({
  mAP50: z.number().nullable(),
  "mAP50-95": z.number().nullable(),
  precision: z.number().nullable(),
  recall: z.number().nullable(),
  box_loss: z.number().nullable(),
  cls_loss: z.number().nullable(),
  dfl_loss: z.number().nullable(),
  best_epoch: z.int(),
  total_epochs: z.int(),
});
export type FinalMetrics = z.infer<typeof FinalMetrics>;

/** What the dataset service learned about a validated dataset (PRD 4.2.2 `dataset_info`). */
export const DatasetInfo = z.object({
  total_images: z.int().min(0),
  train_images: z.int().min(0),
  val_images: z.int().min(0),
  classes: z.array(z.string()),
  class_distribution: z.record(z.string(), z.int().min(0)),
});
export type DatasetInfo = z.infer<typeof DatasetInfo>;

const url = z.url();

/** `training_completed` callback (PRD 4.2.2). */
export const TrainingCompletedCallback = z.object({
  type: z.literal("training_completed"),
  job_id: z.uuid(),
  timestamp: z.iso.datetime(),
  status: z.literal("completed"),
  duration_seconds: z.number().min(0),
  model: z.object({
    name: z.string(),
    download_url: url,
    size_mb: z.number().min(0),
    format: z.literal("pytorch"),
    expires_at: z.iso.datetime(),
  }),
  final_metrics: FinalMetrics,
  artifacts: z.object({
    confusion_matrix: url.nullable(),
    pr_curve: url.nullable(),
    f1_curve: url.nullable(),
    results_csv: url.nullable(),
    training_logs: url.nullable(),
  }),
  dataset_info: DatasetInfo,
});
export type TrainingCompletedCallback = z.infer<typeof TrainingCompletedCallback>;

/** Where a failure happened; `dataset_validation` is the PRD's own example (PRD 4.2.3). */
export const FailurePhase = z.enum([
  "dataset_download",
  "dataset_validation",
  "preparing",
  "training",
  "validating",
  "uploading",
  "cancelled",
]);
export type FailurePhase = z.infer<typeof FailurePhase>;

export const JobError = z.object({
  code: ErrorCode,
  message: z.string(),
  details: z.string(),
  phase: FailurePhase,
  epoch: z.int().nullable(),
});
export type JobError = z.infer<typeof JobError>;

/** `training_failed` callback (PRD 4.2.3). */
export const TrainingFailedCallback = z.object({
  type: z.literal("training_failed"),
  job_id: z.uuid(),
  timestamp: z.iso.datetime(),
  status: z.literal("failed"),
  error: JobError,
  partial_metrics: EpochMetrics.nullable(),
});
export type TrainingFailedCallback = z.infer<typeof TrainingFailedCallback>;

export const Callback = z.discriminatedUnion("type", [
  TrainingProgressCallback,
  TrainingCompletedCallback,
  TrainingFailedCallback,
]);
export type Callback = z.infer<typeof Callback>;
