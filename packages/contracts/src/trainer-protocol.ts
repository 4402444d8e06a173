import { z } from "zod";
import { FinalMetrics, ResourceReadings } from "./callbacks.js";
import { Augmentation, EpochMetrics, Optimizer } from "./rest.js";

/**
 * The agent ↔ python-trainer protocol. The agent writes a TrainerJob as job.json and reads
 * TrainerEvents as JSON lines from the trainer's events file descriptor (never stdout, which
 * carries Ultralytics' own log). The Python side validates against the JSON Schema generated
 * from these definitions (python-trainer/src/trainyard_trainer/protocol.schema.json).
 */
export const TrainerJob = z.object({
  job_id: z.uuid(),
  data_yaml: z.string(),
  run_dir: z.string(),
  base_model: z.string(),
  weights_dir: z.string().nullable(),
  epochs: z.int().min(1),
  batch_size: z.int().min(1),
  image_size: z.int().min(32),
  learning_rate: z.number().positive(),
  optimizer: Optimizer.nullable(),
  augmentation: Augmentation.nullable(),
  device: z.string(),
  workers: z.int().min(0),
});
export type TrainerJob = z.infer<typeof TrainerJob>;

const nullablePath = z.string().nullable();

export const TrainerEvent = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("preparing"),
    model_source: z.enum(["weights", "architecture"]),
    model: z.string(),
  }),
  z.object({
    type: z.literal("epoch"),
    epoch: z.int().min(1),
    total_epochs: z.int().min(1),
    metrics: EpochMetrics,
    epoch_seconds: z.number().nullable(),
    eta_seconds: z.number().nullable(),
    resources: ResourceReadings,
  }),
  z.object({ type: z.literal("validating") }),
  z.object({
    type: z.literal("completed"),
    best_pt: z.string(),
    final_metrics: FinalMetrics,
    artifacts: z.object({
      confusion_matrix: nullablePath,
      pr_curve: nullablePath,
      f1_curve: nullablePath,
      results_csv: nullablePath,
    }),
  }),
  z.object({
    type: z.literal("failed"),
    code: z.enum([
      "DATASET_INVALID",
      "MODEL_DOWNLOAD_FAILED",
      "INSUFFICIENT_MEMORY",
      "TRAINING_DIVERGED",
      "UNKNOWN_ERROR",
    ]),
    message: z.string(),
    details: z.string(),
    epoch: z.int().nullable(),
  }),
]);
export type TrainerEvent = z.infer<typeof TrainerEvent>;
