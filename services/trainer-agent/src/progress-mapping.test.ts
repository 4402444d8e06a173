import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { JobEvent, type EpochMetrics, type TrainerEvent } from "@trainyard/contracts";
import { epochEvent, epochPercentage, PHASE_PERCENT } from "./progress-mapping.js";

const JOB_ID = "550e8400-e29b-41d4-a716-446655440000";

function metrics(map95: number | null, map50: number | null): EpochMetrics {
  return {
    box_loss: 0.02,
    cls_loss: 0.01,
    dfl_loss: 0.009,
    precision: 0.8,
    recall: 0.7,
    mAP50: map50,
    "mAP50-95": map95,
  };
}

describe("epochPercentage", () => {
  test("is the PRD's epoch/total·100 in the middle of a run", () => {
    assert.equal(epochPercentage(45, 100), 45);
    assert.equal(epochPercentage(1, 3), 33.33, "expected two decimals");
    assert.equal(epochPercentage(2, 3), 66.67, "expected two decimals");
  });

  test("never drops below preparing (10) nor reaches validating (95)", () => {
    assert.equal(epochPercentage(1, 100), PHASE_PERCENT.preparing, "expected epoch 1 of 100 clamped up to 10");
    assert.equal(epochPercentage(0, 10), 10, "expected epoch 0 clamped up to 10");
    assert.equal(epochPercentage(100, 100), 94, "expected the last epoch clamped to 94");
    assert.equal(epochPercentage(1, 1), 94, "expected a one-epoch run at 94");
    assert.equal(epochPercentage(150, 100), 94, "expected an overshoot clamped to 94");
    assert.equal(epochPercentage(3, 0), 94, "expected a zero total not to divide by zero");
  });

  test("is monotonic over every run length and stays within [10, 94]", () => {
    for (const total of [1, 2, 3, 7, 10, 11, 99, 100, 1000]) {
      let previous: number = PHASE_PERCENT.preparing;
      for (let epoch = 1; epoch <= total; epoch++) {
        const p = epochPercentage(epoch, total);
        assert.ok(p >= previous, `expected epoch ${epoch}/${total} (${p}) >= previous (${previous})`);
        assert.ok(p >= 10 && p <= 94, `expected epoch ${epoch}/${total} within [10, 94], got ${p}`);
        previous = p;
      }
      assert.ok(previous < PHASE_PERCENT.validating, `expected the last epoch of ${total} below validating`);
    }
  });
});

describe("epochEvent", () => {
  test("maps a trainer epoch report to a valid epoch job event with the trainer's best", () => {
    const report: Extract<TrainerEvent, { type: "epoch" }> = {
      v: 2,
      type: "epoch",
      epoch: 2,
      total_epochs: 4,
      metrics: metrics(0.4, 0.8),
      best: { mAP50: 0.7, "mAP50-95": 0.5, epoch: 1 },
      epoch_seconds: 2.5,
      eta_seconds: 5,
      resources: {
        gpu_utilization: 87.5,
        memory_used_gb: 12.3,
        temperature_c: 72,
        cpu_utilization: 98,
        ram_used_gb: 3,
      },
    };
    const at = new Date("2025-01-20T10:35:42.000Z");
    const event = epochEvent(JOB_ID, report, at);
    assert.deepEqual(JobEvent.parse(event), event, "expected a valid JobEvent");
    assert.equal(event.type, "epoch");
    assert.equal(event.at, "2025-01-20T10:35:42.000Z");
    assert.equal(event.percentage, 50);
    assert.equal(event.eta_seconds, 5);
    assert.deepEqual(event.metrics.current, metrics(0.4, 0.8));
    assert.deepEqual(event.metrics.best, { mAP50: 0.7, "mAP50-95": 0.5, epoch: 1 }, "expected the trainer's best");
    assert.deepEqual(
      event.resources,
      { gpu_utilization: 87.5, memory_used_gb: 12.3, temperature_c: 72 },
      "expected only the PRD's three readings",
    );
  });
});
