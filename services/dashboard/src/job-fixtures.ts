import {
  newJobRecord,
  type JobEvent,
  type JobEventOf,
  type QueueEntry,
  type TrainRequested,
} from "@trainyard/contracts";
import type { ProjectedJob } from "./projected-job.js";

// Test data shared by the unit and integration tests: a job as the gateway inserts it, and one
// valid event of each type.

export const AT = "2025-01-20T10:30:15.000Z";

const modelConfig = {
  name: "poste-detector-v1",
  base_model: "yolov8n.pt",
  epochs: 2,
  batch_size: 16,
  image_size: 640,
  learning_rate: 0.01,
  optimizer: "AdamW",
} as const;

export function queuedJob(jobId: string, createdAt = new Date(AT)): ProjectedJob {
  return { ...newJobRecord({ job_id: jobId, model_config: modelConfig, now: createdAt }), artifacts: null };
}

/** The gateway's `train.requested` for `queuedJob(jobId, createdAt)`. */
export function trainRequested(jobId: string, createdAt = new Date(AT)): TrainRequested {
  return {
    job_id: jobId,
    requested_at: createdAt.toISOString(),
    model_config: modelConfig,
    dataset: { url: "https://data.example.com/shapes.zip", format: "yolo" },
  };
}

export const datasetInfo = {
  total_images: 12,
  train_images: 8,
  val_images: 4,
  classes: ["poste", "cabo"],
  class_distribution: { poste: 10, cabo: 6 },
};

export function phaseEvent(
  jobId: string,
  phase: JobEventOf<"phase">["phase"],
  percentage: number,
  at = AT,
): JobEventOf<"phase"> {
  return {
    type: "phase",
    job_id: jobId,
    at,
    phase,
    percentage,
    total_epochs: 2,
    ...(phase === "downloading" ? { dataset_info: datasetInfo } : {}),
  };
}

export function assignedEvent(jobId: string, at = AT): JobEventOf<"assigned"> {
  return {
    type: "assigned",
    job_id: jobId,
    at,
    agent_id: "gpu-host-1",
    slot: { index: 0, device: "cuda:0", name: "NVIDIA H100" },
  };
}

export function epochEvent(
  jobId: string,
  epoch: number,
  percentage: number,
  at = AT,
  totalEpochs = 2,
): JobEventOf<"epoch"> {
  const mAP50 = Math.min(1, 0.4 * epoch);
  return {
    type: "epoch",
    job_id: jobId,
    at,
    epoch,
    total_epochs: totalEpochs,
    percentage,
    eta_seconds: (totalEpochs - epoch) * 30,
    metrics: {
      current: {
        box_loss: 1 / epoch,
        cls_loss: 0.5 / epoch,
        dfl_loss: 0.9,
        precision: 0.7,
        recall: 0.6,
        mAP50,
        "mAP50-95": mAP50 / 2,
      },
      best: { mAP50, "mAP50-95": mAP50 / 2, epoch },
    },
    resources: { gpu_utilization: 87, memory_used_gb: 12.3, temperature_c: 72 },
  };
}

export function completedEvent(jobId: string, at = AT): JobEventOf<"completed"> {
  return {
    type: "completed",
    job_id: jobId,
    at,
    started_at: AT,
    duration_seconds: 60,
    model: { name: "best.pt", object_name: `${jobId}/best.pt`, size_bytes: 6_000_000 },
    final_metrics: {
      mAP50: 0.8,
      "mAP50-95": 0.4,
      precision: 0.7,
      recall: 0.6,
      box_loss: 0.5,
      cls_loss: 0.25,
      dfl_loss: 0.9,
      best_epoch: 2,
      total_epochs: 2,
    },
    artifacts: {
      confusion_matrix: `${jobId}/confusion_matrix.png`,
      pr_curve: null,
      f1_curve: `${jobId}/f1_curve.png`,
      results_csv: `${jobId}/results.csv`,
      training_logs: `${jobId}/logs.txt`,
    },
    dataset_info: datasetInfo,
  };
}

export function failedEvent(
  jobId: string,
  code: "TRAINING_DIVERGED" | "CANCELLED" = "TRAINING_DIVERGED",
  at = AT,
): JobEventOf<"failed"> {
  return {
    type: "failed",
    job_id: jobId,
    at,
    error: { code, message: "loss became NaN", details: "epoch 2", phase: "training", epoch: 2 },
    partial_metrics: null,
  };
}

/** The events of one successful job, in publication order. */
export function happyPath(jobId: string): JobEvent[] {
  return [
    phaseEvent(jobId, "downloading", 5),
    assignedEvent(jobId),
    phaseEvent(jobId, "preparing", 10),
    epochEvent(jobId, 1, 50),
    epochEvent(jobId, 2, 94),
    completedEvent(jobId),
  ];
}

/** The scheduler's queue entry of a job whose dataset is ready (`seq`: arrival); `placed` on slot 0 of `a`. */
export function queueEntry(jobId: string, seq: number, opts: { placed?: boolean } = {}): QueueEntry {
  return {
    job: {
      ...trainRequested(jobId),
      dataset_object: `${jobId}.zip`,
      dataset_root: "",
      dataset_sha256: "a".repeat(64),
      dataset_info: datasetInfo,
    },
    priority: "normal",
    seq,
    enqueued_at: AT,
    attempt: 1,
    resume_from: null,
    placement: opts.placed ? { agent_id: "a", slot: { index: 0, device: "cpu", name: "CPU" }, assigned_at: AT } : null,
  };
}
