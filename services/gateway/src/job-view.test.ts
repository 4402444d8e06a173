import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { JobRecord, JobView, newJobRecord, type ModelConfig } from "@trainyard/contracts";
import { toJobView } from "./job-view.js";
import { queueFields } from "./queue-reader.js";

const JOB_ID = "550e8400-e29b-41d4-a716-446655440000";
const NOW = new Date("2025-01-20T10:00:00.000Z");
const MODEL: ModelConfig = {
  name: "poste-detector-v1",
  base_model: "yolov8n.pt",
  epochs: 100,
  batch_size: 16,
  image_size: 640,
  learning_rate: 0.01,
};

describe("newJobRecord", () => {
  test("is a valid queued JobRecord with no progress yet", () => {
    const record = JobRecord.parse(newJobRecord({ job_id: JOB_ID, model_config: MODEL, now: NOW }));
    assert.equal(record._id, JOB_ID);
    assert.equal(record.status, "queued");
    assert.equal(record.model_name, "poste-detector-v1");
    assert.equal(record.total_epochs, 100);
    assert.equal(record.progress, 0);
    assert.equal(record.resources, null, "expected no resources when the request had none");
    assert.equal(record.last_event_seq, 0, "expected the projector to start from sequence 0");
  });

  test("keeps the requested resources", () => {
    const resources = { device: "cuda:0", workers: 8, max_memory_gb: 16 };
    assert.deepEqual(newJobRecord({ job_id: JOB_ID, model_config: MODEL, resources, now: NOW }).resources, resources);
  });
});

describe("toJobView", () => {
  test("a queued job is the PRD 7.2 view with ISO dates and nulls", () => {
    const view = toJobView(newJobRecord({ job_id: JOB_ID, model_config: MODEL, now: NOW }));
    assert.deepEqual(JobView.parse(view), view, "expected the view to satisfy the JobView contract unchanged");
    assert.deepEqual(view, {
      job_id: JOB_ID,
      status: "queued",
      progress: 0,
      current_epoch: null,
      total_epochs: 100,
      metrics: null,
      created_at: "2025-01-20T10:00:00.000Z",
      started_at: null,
      eta_seconds: null,
    });
  });

  test("a training job reports its epoch, metrics, start time and eta, and nothing internal", () => {
    const metrics = {
      current: {
        box_loss: 0.02,
        cls_loss: 0.01,
        dfl_loss: 0.009,
        precision: 0.87,
        recall: 0.83,
        mAP50: 0.89,
        "mAP50-95": 0.72,
      },
      best: { mAP50: 0.9, "mAP50-95": 0.73, epoch: 42 },
    };
    const record = {
      ...newJobRecord({ job_id: JOB_ID, model_config: MODEL, now: NOW }),
      status: "training" as const,
      phase: "training" as const,
      progress: 65,
      current_epoch: 65,
      metrics,
      eta_seconds: 1338,
      started_at: new Date("2025-01-20T10:05:00.000Z"),
      agent_id: "gpu-host-1",
      last_event_seq: 12,
    };
    const view = toJobView(record);
    assert.equal(view.status, "training");
    assert.equal(view.progress, 65);
    assert.equal(view.current_epoch, 65);
    assert.equal(view.eta_seconds, 1338);
    assert.equal(view.started_at, "2025-01-20T10:05:00.000Z");
    assert.deepEqual(view.metrics, metrics);
    const queueFields = ["queue_position", "estimated_start_time"];
    assert.deepEqual(
      Object.keys(view).sort(),
      Object.keys(JobView.shape)
        .filter((k) => !queueFields.includes(k))
        .sort(),
      "expected exactly the PRD 7.2 fields (no agent id, no sequence numbers, no queue place)",
    );
  });

  test("a queued job adds its place in the queue, and the view still satisfies the contract", () => {
    const record = newJobRecord({ job_id: JOB_ID, model_config: MODEL, now: NOW });
    const waiting = toJobView(record, { queue_position: 3, estimated_start_time: "2025-01-20T11:00:00.000Z" });
    assert.deepEqual(JobView.parse(waiting), waiting);
    assert.equal(waiting.queue_position, 3);
    assert.equal(waiting.estimated_start_time, "2025-01-20T11:00:00.000Z");
    const preparing = toJobView(record, { queue_position: null, estimated_start_time: "2025-01-20T11:00:00.000Z" });
    assert.deepEqual(JobView.parse(preparing), preparing, "expected a null position to be valid");
  });
});

describe("queueFields", () => {
  test("turns a place into the REST fields: the position, and the start as an ISO time from now", () => {
    assert.deepEqual(queueFields({ state: "waiting", position: 2, startsIn: 90.4 }, NOW), {
      queue_position: 2,
      estimated_start_time: "2025-01-20T10:01:30.400Z",
    });
    assert.deepEqual(queueFields({ state: "not_queued", position: null, startsIn: 0 }, NOW), {
      queue_position: null,
      estimated_start_time: "2025-01-20T10:00:00.000Z",
    });
  });
});
