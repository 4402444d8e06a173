import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, it } from "node:test";
import { JobRecord, type JobEvent } from "@trainyard/contracts";
import {
  assignedEvent,
  completedEvent,
  epochEvent,
  failedEvent,
  happyPath,
  phaseEvent,
  queuedJob,
} from "./job-fixtures.js";
import { apply, withChanges } from "./projection.js";

const id = randomUUID();

/** Applies events as the projector does, numbering them 1, 2, … unless given sequences. */
function fold(record: JobRecord, events: JobEvent[], seqs = events.map((_, i) => i + 1)): JobRecord {
  return events.reduce((current, event, i) => {
    const changes = apply(current, event, seqs[i] ?? 0);
    return changes ? withChanges(current, changes) : current;
  }, record);
}

describe("projection.apply", () => {
  it("ignores an event whose sequence the record already holds (redelivery)", () => {
    const record = { ...queuedJob(id), last_event_seq: 7 };
    assert.equal(apply(record, epochEvent(id, 1, 50), 7), null);
    assert.equal(apply(record, epochEvent(id, 1, 50), 3), null);
    assert.notEqual(apply(record, epochEvent(id, 1, 50), 8), null);
  });

  it("assigned records the agent and slot and leaves the job queued", () => {
    const changes = apply(queuedJob(id), assignedEvent(id), 1);
    assert.deepEqual(changes, {
      last_event_seq: 1,
      agent_id: "gpu-host-1",
      slot: { index: 0, device: "cuda:0", name: "NVIDIA H100" },
    });
  });

  it("phase downloading sets phase, progress and dataset info; the job is still queued", () => {
    const next = fold(queuedJob(id), [phaseEvent(id, "downloading", 5)]);
    assert.equal(next.status, "queued");
    assert.equal(next.phase, "downloading");
    assert.equal(next.progress, 5);
    assert.equal(next.started_at, null);
    assert.deepEqual(next.dataset_info?.classes, ["poste", "cabo"]);
  });

  it("phase preparing starts training once: started_at keeps the first start", () => {
    const first = fold(queuedJob(id), [phaseEvent(id, "preparing", 10, "2025-01-20T10:31:00.000Z")]);
    assert.equal(first.status, "training");
    assert.equal(first.started_at?.toISOString(), "2025-01-20T10:31:00.000Z");
    const again = fold(first, [phaseEvent(id, "preparing", 10, "2025-01-20T11:00:00.000Z")], [2]);
    assert.equal(again.started_at?.toISOString(), "2025-01-20T10:31:00.000Z");
  });

  it("progress never goes backwards", () => {
    const at60 = { ...queuedJob(id), status: "training" as const, progress: 60 };
    assert.equal(fold(at60, [phaseEvent(id, "preparing", 10)]).progress, 60);
    assert.equal(fold(at60, [epochEvent(id, 1, 50)]).progress, 60);
    assert.equal(fold(at60, [phaseEvent(id, "validating", 95)]).progress, 95);
  });

  it("epoch updates status, epoch counters, eta, metrics and appends a history point", () => {
    const next = fold(queuedJob(id), [epochEvent(id, 1, 50)]);
    assert.equal(next.status, "training");
    assert.equal(next.phase, "training");
    assert.equal(next.current_epoch, 1);
    assert.equal(next.total_epochs, 2);
    assert.equal(next.progress, 50);
    assert.equal(next.eta_seconds, 30);
    assert.equal(next.metrics?.current?.mAP50, 0.4);
    assert.deepEqual(next.history, [{ epoch: 1, mAP50: 0.4, "mAP50-95": 0.2, box_loss: 1, cls_loss: 0.5 }]);
  });

  it("a repeated epoch replaces its history point instead of duplicating it", () => {
    const restarted = { ...epochEvent(id, 1, 50), metrics: { ...epochEvent(id, 1, 50).metrics, current: null } };
    const next = fold(queuedJob(id), [epochEvent(id, 1, 50), epochEvent(id, 2, 94), restarted]);
    assert.deepEqual(
      next.history.map((p) => [p.epoch, p.mAP50]),
      [
        [1, null],
        [2, 0.8],
      ],
    );
  });

  it("completed finishes the job with progress 100, final metrics, model and dataset", () => {
    const next = fold(queuedJob(id), happyPath(id));
    assert.equal(next.status, "completed");
    assert.equal(next.progress, 100);
    assert.equal(next.phase, null);
    assert.equal(next.eta_seconds, 0);
    assert.equal(next.final_metrics?.best_epoch, 2);
    assert.equal(next.model_object, `${id}/best.pt`);
    assert.equal(next.dataset_info?.total_images, 12);
    assert.ok(next.finished_at instanceof Date);
    assert.equal(next.history.length, 2);
    assert.equal(next.last_event_seq, 6);
    assert.doesNotThrow(() => JobRecord.parse(next), "the projected record still matches JobRecord");
  });

  it("completed without earlier phases takes started_at from the event", () => {
    const next = fold(queuedJob(id), [completedEvent(id)]);
    assert.equal(next.started_at?.toISOString(), completedEvent(id).started_at);
  });

  it("failed records the error and the finish time, keeping progress", () => {
    const next = fold(queuedJob(id), [epochEvent(id, 1, 50), failedEvent(id)]);
    assert.equal(next.status, "failed");
    assert.equal(next.error?.code, "TRAINING_DIVERGED");
    assert.equal(next.progress, 50);
    assert.equal(next.eta_seconds, null);
    assert.ok(next.finished_at instanceof Date);
  });

  it("a failure with code CANCELLED makes the job cancelled", () => {
    assert.equal(fold(queuedJob(id), [failedEvent(id, "CANCELLED")]).status, "cancelled");
  });

  it("a finished job never returns to training; late events only advance the sequence", () => {
    const done = fold(queuedJob(id), happyPath(id));
    assert.deepEqual(apply(done, epochEvent(id, 2, 94), 7), { last_event_seq: 7 });
    assert.deepEqual(apply(done, failedEvent(id), 8), { last_event_seq: 8 });
  });

  it("redelivering any prefix of the stream gives the same record as delivering it once", () => {
    const events = happyPath(id);
    const once = fold(queuedJob(id), events);
    // the consumer re-reads events 2..4 after a crash, with their original sequences
    const withReplay = fold(queuedJob(id), [...events.slice(0, 4), ...events.slice(1)], [1, 2, 3, 4, 2, 3, 4, 5, 6]);
    assert.deepEqual(withReplay, once);
  });
});
