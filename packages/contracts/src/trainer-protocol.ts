import { z } from "zod";
import { ErrorCode } from "./errors.js";
import { FinalMetrics, ResourceReadings } from "./callbacks.js";
import { Augmentation, BestMetrics, EpochMetrics, Optimizer } from "./rest.js";

/**
 * The agent ↔ python-trainer protocol. The agent writes a TrainerJob as job.json and reads
 * TrainerEvents as JSON lines from the trainer's events file descriptor (never stdout, which
 * carries Ultralytics' own log). The Python side validates against the JSON Schema generated
 * from these definitions (python-trainer/src/trainyard_trainer/protocol.schema.json).
 * python-trainer/README.md documents the event order and the exit codes.
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
  /** PRD 17.8, best effort: a cap on the memory the training may use on its device (GPU memory, or RAM on CPU). */
  max_memory_gb: z.number().positive().nullable(),
  /** A last.pt of an interrupted run of this job: training continues after the epoch it holds. */
  resume_from: z.string().nullable().optional(),
});
export type TrainerJob = z.infer<typeof TrainerJob>;

/**
 * Major version of the event protocol, carried as `v` on every event. Additions that an older
 * reader can ignore (a new optional field, a new event type) keep it; anything else bumps it.
 */
export const TRAINER_PROTOCOL_VERSION = 2;

const version = z.literal(TRAINER_PROTOCOL_VERSION);

/** Failure codes the trainer itself decides (a subset of the PRD's ErrorCode). */
export const TrainerFailureCode = ErrorCode.extract([
  "DATASET_INVALID",
  "MODEL_DOWNLOAD_FAILED",
  "INSUFFICIENT_MEMORY",
  "TRAINING_DIVERGED",
  "CANCELLED",
  "UNKNOWN_ERROR",
]);
export type TrainerFailureCode = z.infer<typeof TrainerFailureCode>;

/** Files a run announces; `name` is also the file name the agent stores it under. */
export const TrainerArtifactName = z.enum([
  "best.pt",
  "last.pt",
  "results.csv",
  "results.png",
  "confusion_matrix.png",
  "confusion_matrix_normalized.png",
  "pr_curve.png",
  "f1_curve.png",
  "p_curve.png",
  "r_curve.png",
  "args.yaml",
]);
export type TrainerArtifactName = z.infer<typeof TrainerArtifactName>;

/** The PRD's GPU readings; on a CPU job `memory_used_gb` is the training's RAM. Plus host figures. */
export const TrainerResources = ResourceReadings.extend({
  cpu_utilization: z.number().nullable(),
  ram_used_gb: z.number().nullable(),
});
export type TrainerResources = z.infer<typeof TrainerResources>;

const PhaseEvent = z.discriminatedUnion("phase", [
  z.object({
    v: version,
    type: z.literal("phase"),
    phase: z.literal("preparing"),
    model_source: z.enum(["weights", "architecture", "checkpoint"]),
    model: z.string(),
  }),
  z.object({
    v: version,
    type: z.literal("phase"),
    phase: z.literal("training"),
    /** First epoch this process trains (1-based): after the checkpoint's epoch on a resume. */
    start_epoch: z.int().min(1),
    total_epochs: z.int().min(1),
    resumed: z.boolean(),
    batch_size: z.int().min(1),
    image_size: z.int().min(1),
    device: z.string(),
  }),
  z.object({ v: version, type: z.literal("phase"), phase: z.literal("validating") }),
]);

export const TrainerEvent = z.discriminatedUnion("type", [
  PhaseEvent,
  z.object({
    v: version,
    type: z.literal("epoch"),
    epoch: z.int().min(1),
    total_epochs: z.int().min(1),
    metrics: EpochMetrics,
    /** The epoch best.pt holds so far (Ultralytics' fitness; ties go to the later epoch). */
    best: BestMetrics.nullable(),
    epoch_seconds: z.number().nullable(),
    eta_seconds: z.number().nullable(),
    resources: TrainerResources,
  }),
  z.object({
    v: version,
    type: z.literal("artifact"),
    name: TrainerArtifactName,
    path: z.string(),
    /** For last.pt: the epoch it holds, the one a resume continues after. */
    epoch: z.int().min(1).nullable(),
  }),
  z.object({
    v: version,
    type: z.literal("log"),
    level: z.enum(["info", "warning", "error"]),
    message: z.string(),
  }),
  z.object({
    v: version,
    type: z.literal("error"),
    code: TrainerFailureCode,
    message: z.string(),
    details: z.string(),
    phase: z.enum(["preparing", "training", "validating"]),
    /** The epoch that was running (1-based); null before training started. */
    epoch: z.int().min(1).nullable(),
    /** Metrics of the last epoch that finished, null if none did. */
    partial_metrics: EpochMetrics.nullable(),
  }),
  z.object({
    v: version,
    type: z.literal("done"),
    best_pt: z.string(),
    final_metrics: FinalMetrics,
  }),
]);
export type TrainerEvent = z.infer<typeof TrainerEvent>;
