import type { JobEventOf } from "@trainyard/contracts";

/** Valid job events for tests, one builder per type; `at` defaults to a fixed instant. */
export const AT = "2025-01-20T11:45:30.000Z";

const datasetInfo = {
  total_images: 1500,
  train_images: 1200,
  val_images: 300,
  classes: ["poste", "transformador", "cabo"],
  class_distribution: { poste: 856, transformador: 234, cabo: 1122 },
};

export function phaseEvent(jobId: string, overrides: Partial<JobEventOf<"phase">> = {}): JobEventOf<"phase"> {
  return { type: "phase", job_id: jobId, at: AT, phase: "downloading", percentage: 5, total_epochs: 2, ...overrides };
}

export function assignedEvent(jobId: string): JobEventOf<"assigned"> {
  return {
    type: "assigned",
    job_id: jobId,
    at: AT,
    agent_id: "agent-1",
    slot: { index: 0, device: "cuda:0", name: "H100" },
  };
}

export function epochEvent(jobId: string, epoch: number, totalEpochs = 2): JobEventOf<"epoch"> {
  return {
    type: "epoch",
    job_id: jobId,
    at: AT,
    epoch,
    total_epochs: totalEpochs,
    percentage: Math.min(94, Math.max(10, (100 * epoch) / totalEpochs)),
    eta_seconds: 30 * (totalEpochs - epoch),
    metrics: {
      current: {
        box_loss: 0.02347,
        cls_loss: 0.01562,
        dfl_loss: 0.00891,
        precision: 0.8765,
        recall: 0.8342,
        mAP50: 0.8914,
        "mAP50-95": 0.7234,
      },
      best: { mAP50: 0.8954, "mAP50-95": 0.7289, epoch },
    },
    resources: { gpu_utilization: 87.5, memory_used_gb: 12.3, temperature_c: 72 },
  };
}

export function completedEvent(
  jobId: string,
  overrides: Partial<JobEventOf<"completed">> = {},
): JobEventOf<"completed"> {
  return {
    type: "completed",
    job_id: jobId,
    at: AT,
    started_at: "2025-01-20T10:45:30.000Z",
    duration_seconds: 3600,
    model: { name: "poste-detector-v1", object_name: `${jobId}/best.pt`, size_bytes: 47_395_635 },
    final_metrics: {
      mAP50: 0.9234,
      "mAP50-95": 0.7891,
      precision: 0.8876,
      recall: 0.8523,
      box_loss: 0.0187,
      cls_loss: 0.0123,
      dfl_loss: 0.0076,
      best_epoch: 2,
      total_epochs: 2,
    },
    artifacts: {
      confusion_matrix: `${jobId}/confusion_matrix.png`,
      pr_curve: `${jobId}/pr_curve.png`,
      f1_curve: null,
      results_csv: `${jobId}/results.csv`,
      training_logs: `${jobId}/logs.txt`,
    },
    dataset_info: datasetInfo,
    ...overrides,
  };
}

export function failedEvent(jobId: string): JobEventOf<"failed"> {
  return {
    type: "failed",
    job_id: jobId,
    at: AT,
    error: {
      code: "DATASET_INVALID",
      message: "Missing data.yaml file in dataset",
      details: "The dataset archive does not contain a valid data.yaml configuration file.",
      phase: "dataset_validation",
      epoch: null,
    },
    partial_metrics: null,
  };
}
