/**
 * The PRD's own example payloads, copied verbatim from docs (PRD 4.1, 4.2.1, 4.2.2, 4.2.3),
 * must parse with the contracts; the contracts must also reject what the PRD does not allow.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { z } from "zod";
import {
  Callback,
  JobEvent,
  TrainingCompletedCallback,
  TrainingFailedCallback,
  TrainingProgressCallback,
  TrainRequest,
} from "./index.js";

// PRD 4.1, verbatim.
const PRD_TRAIN_REQUEST = `{
  "job_id": "550e8400-e29b-41d4-a716-446655440000",
  "callback_url": "https://pdbqkhutwgtmgaudujwl.supabase.co/functions/v1/webhook-ingest",
  "callback_secret": "sk_live_abc123xyz789",
  
  "model_config": {
    "name": "poste-detector-v1",
    "base_model": "yolov8n.pt",
    "epochs": 100,
    "batch_size": 16,
    "image_size": 640,
    "learning_rate": 0.01,
    "optimizer": "AdamW",
    "augmentation": {
      "hsv_h": 0.015,
      "hsv_s": 0.7,
      "hsv_v": 0.4,
      "degrees": 10.0,
      "translate": 0.1,
      "scale": 0.5,
      "shear": 0.0,
      "perspective": 0.0,
      "flipud": 0.0,
      "fliplr": 0.5,
      "mosaic": 1.0,
      "mixup": 0.0
    }
  },
  
  "dataset": {
    "url": "https://pdbqkhutwgtmgaudujwl.supabase.co/storage/v1/object/sign/datasets/abc.zip?token=xyz",
    "format": "yolo",
    "expected_structure": {
      "data.yaml": true,
      "images/train": true,
      "images/val": true,
      "labels/train": true,
      "labels/val": true
    }
  },
  
  "resources": {
    "device": "cuda:0",
    "workers": 8,
    "max_memory_gb": 16
  }
}`;

// PRD 4.2.1, verbatim.
const PRD_PROGRESS_CALLBACK = `{
  "type": "training_progress",
  "job_id": "550e8400-e29b-41d4-a716-446655440000",
  "timestamp": "2025-01-20T10:35:42Z",
  
  "progress": {
    "percentage": 45.0,
    "current_epoch": 45,
    "total_epochs": 100,
    "phase": "training",
    "eta_seconds": 1980
  },
  
  "metrics": {
    "current": {
      "box_loss": 0.02347,
      "cls_loss": 0.01562,
      "dfl_loss": 0.00891,
      "precision": 0.8765,
      "recall": 0.8342,
      "mAP50": 0.8914,
      "mAP50-95": 0.7234
    },
    "best": {
      "mAP50": 0.8954,
      "mAP50-95": 0.7289,
      "epoch": 42
    }
  },
  
  "resources": {
    "gpu_utilization": 87.5,
    "memory_used_gb": 12.3,
    "temperature_c": 72
  }
}`;

// PRD 4.2.2, verbatim.
const PRD_COMPLETED_CALLBACK = `{
  "type": "training_completed",
  "job_id": "550e8400-e29b-41d4-a716-446655440000",
  "timestamp": "2025-01-20T11:45:30Z",
  
  "status": "completed",
  "duration_seconds": 3600,
  
  "model": {
    "name": "poste-detector-v1",
    "download_url": "https://training-server.com/models/550e8400.pt",
    "size_mb": 45.2,
    "format": "pytorch",
    "expires_at": "2025-01-27T11:45:30Z"
  },
  
  "final_metrics": {
    "mAP50": 0.9234,
    "mAP50-95": 0.7891,
    "precision": 0.8876,
    "recall": 0.8523,
    "box_loss": 0.0187,
    "cls_loss": 0.0123,
    "dfl_loss": 0.0076,
    "best_epoch": 87,
    "total_epochs": 100
  },
  
  "artifacts": {
    "confusion_matrix": "https://training-server.com/artifacts/550e8400/confusion_matrix.png",
    "pr_curve": "https://training-server.com/artifacts/550e8400/pr_curve.png",
    "f1_curve": "https://training-server.com/artifacts/550e8400/f1_curve.png",
    "results_csv": "https://training-server.com/artifacts/550e8400/results.csv",
    "training_logs": "https://training-server.com/artifacts/550e8400/logs.txt"
  },
  
  "dataset_info": {
    "total_images": 1500,
    "train_images": 1200,
    "val_images": 300,
    "classes": ["poste", "transformador", "cabo"],
    "class_distribution": {
      "poste": 856,
      "transformador": 234,
      "cabo": 1122
    }
  }
}`;

// PRD 4.2.3, verbatim.
const PRD_FAILED_CALLBACK = `{
  "type": "training_failed",
  "job_id": "550e8400-e29b-41d4-a716-446655440000",
  "timestamp": "2025-01-20T10:42:15Z",
  
  "status": "failed",
  "error": {
    "code": "DATASET_INVALID",
    "message": "Missing data.yaml file in dataset",
    "details": "The dataset archive does not contain a valid data.yaml configuration file. Please ensure your dataset follows the YOLO format.",
    "phase": "dataset_validation",
    "epoch": null
  },
  
  "partial_metrics": null
}`;

/** Parses and fails with the zod issues in the message, so a broken contract says what broke. */
function mustParse<S extends z.ZodType>(schema: S, json: string, what: string): z.infer<S> {
  const result = schema.safeParse(JSON.parse(json));
  assert.ok(
    result.success,
    `expected the PRD's ${what} example to parse, got: ${JSON.stringify(result.error?.issues)}`,
  );
  return result.data;
}

function rejectionPaths(schema: z.ZodType, value: unknown): string[] {
  const result = schema.safeParse(value);
  if (result.success) assert.fail(`expected ${JSON.stringify(value).slice(0, 200)} to be rejected`);
  return result.error.issues.map((issue) => issue.path.join("."));
}

describe("the PRD's example payloads parse", () => {
  test("PRD 4.1 request parses as TrainRequest, keeping its fields", () => {
    const request = mustParse(TrainRequest, PRD_TRAIN_REQUEST, "4.1 train request");
    assert.equal(request.job_id, "550e8400-e29b-41d4-a716-446655440000");
    assert.equal(request.model_config.base_model, "yolov8n.pt");
    assert.equal(request.model_config.augmentation?.mosaic, 1.0);
    assert.equal(request.dataset.format, "yolo");
    assert.equal(request.resources?.device, "cuda:0");
  });

  test("PRD 4.2.1 parses as TrainingProgressCallback and as a Callback", () => {
    const progress = mustParse(TrainingProgressCallback, PRD_PROGRESS_CALLBACK, "4.2.1 training_progress");
    assert.equal(progress.progress.current_epoch, 45);
    assert.equal(progress.metrics.best?.epoch, 42);
    assert.equal(mustParse(Callback, PRD_PROGRESS_CALLBACK, "4.2.1 training_progress").type, "training_progress");
  });

  test("PRD 4.2.2 parses as TrainingCompletedCallback and as a Callback", () => {
    const completed = mustParse(TrainingCompletedCallback, PRD_COMPLETED_CALLBACK, "4.2.2 training_completed");
    assert.equal(completed.final_metrics.best_epoch, 87);
    assert.deepEqual(completed.dataset_info.classes, ["poste", "transformador", "cabo"]);
    assert.equal(mustParse(Callback, PRD_COMPLETED_CALLBACK, "4.2.2 training_completed").type, "training_completed");
  });

  test("PRD 4.2.3 parses as TrainingFailedCallback and as a Callback", () => {
    const failed = mustParse(TrainingFailedCallback, PRD_FAILED_CALLBACK, "4.2.3 training_failed");
    assert.equal(failed.error.code, "DATASET_INVALID");
    assert.equal(failed.error.phase, "dataset_validation");
    assert.equal(failed.partial_metrics, null);
    assert.equal(mustParse(Callback, PRD_FAILED_CALLBACK, "4.2.3 training_failed").type, "training_failed");
  });
});

describe("TrainRequest rejects what the PRD does not allow", () => {
  const valid = () => JSON.parse(PRD_TRAIN_REQUEST) as Record<string, Record<string, unknown>>;

  test("a missing job_id", () => {
    const body = valid();
    delete body.job_id;
    assert.deepEqual(rejectionPaths(TrainRequest, body), ["job_id"], "expected exactly the job_id issue");
  });

  test("a job_id that is not a uuid", () => {
    assert.deepEqual(rejectionPaths(TrainRequest, { ...valid(), job_id: "job-1" }), ["job_id"]);
  });

  test("a dataset format other than yolo", () => {
    const body = valid();
    body.dataset = { ...body.dataset, format: "coco" };
    assert.deepEqual(rejectionPaths(TrainRequest, body), ["dataset.format"]);
  });

  test("zero epochs", () => {
    const body = valid();
    body.model_config = { ...body.model_config, epochs: 0 };
    assert.deepEqual(rejectionPaths(TrainRequest, body), ["model_config.epochs"]);
  });

  for (const baseModel of ["../x.pt", "http://x/y.pt", "/abs/yolov8n.pt", "weights/yolov8n.pt"]) {
    test(`a base_model that is a path or URL: ${baseModel}`, () => {
      const body = valid();
      body.model_config = { ...body.model_config, base_model: baseModel };
      assert.deepEqual(rejectionPaths(TrainRequest, body), ["model_config.base_model"]);
    });
  }

  test("a callback_url with the ftp: scheme", () => {
    assert.deepEqual(rejectionPaths(TrainRequest, { ...valid(), callback_url: "ftp://example.com/hook" }), [
      "callback_url",
    ]);
  });

  test("a dataset url with the file: scheme", () => {
    const body = valid();
    body.dataset = { ...body.dataset, url: "file:///etc/passwd" };
    assert.deepEqual(rejectionPaths(TrainRequest, body), ["dataset.url"]);
  });

  test("an architecture yaml is an allowed base_model", () => {
    const body = valid();
    body.model_config = { ...body.model_config, base_model: "yolov8n.yaml" };
    assert.equal(TrainRequest.safeParse(body).success, true, "expected yolov8n.yaml to be accepted");
  });
});

describe("JobEvent discriminates on type", () => {
  const base = { job_id: "550e8400-e29b-41d4-a716-446655440000", at: "2025-01-20T10:35:42Z" };

  test("an assigned event parses as assigned", () => {
    const event = JobEvent.parse({
      ...base,
      type: "assigned",
      agent_id: "gpu-host-1",
      slot: { index: 0, device: "cuda:0", name: "NVIDIA H100" },
    });
    assert.equal(event.type, "assigned");
    assert.ok(event.type === "assigned" && event.agent_id === "gpu-host-1", "expected the agent id to survive parsing");
  });

  test("a phase event parses as phase", () => {
    const event = JobEvent.parse({ ...base, type: "phase", phase: "downloading", percentage: 5, total_epochs: 10 });
    assert.equal(event.type, "phase");
  });

  test("a failed event parses as failed", () => {
    const event = JobEvent.parse({
      ...base,
      type: "failed",
      error: { code: "CANCELLED", message: "cancelled", details: "", phase: "cancelled", epoch: null },
      partial_metrics: null,
    });
    assert.equal(event.type, "failed");
  });

  test("the schema of the named type is applied: a phase body labelled epoch is rejected", () => {
    const result = JobEvent.safeParse({
      ...base,
      type: "epoch",
      phase: "downloading",
      percentage: 5,
      total_epochs: 10,
    });
    assert.equal(result.success, false, "expected an epoch event without epoch fields to be rejected");
  });

  test("an unknown type is rejected", () => {
    assert.equal(JobEvent.safeParse({ ...base, type: "cancelled" }).success, false, "expected unknown type to fail");
  });
});
