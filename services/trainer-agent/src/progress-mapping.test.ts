import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { JobEvent, type EpochMetrics, type TrainerEvent } from "@trainyard/contracts";
import { BestTracker, epochEvent, epochPercentage, PHASE_PERCENT } from "./progress-mapping.js";

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

describe("BestTracker", () => {
  test("reports null until an epoch has any mAP", () => {
    const best = new BestTracker();
    assert.equal(best.update(1, metrics(null, null)), null, "expected no best from an all-null epoch");
  });

  test("keeps the epoch with the highest mAP50-95, breaking ties by mAP50, ignoring all-null epochs", () => {
    const best = new BestTracker();
    assert.deepEqual(best.update(1, metrics(0.3, 0.5)), { mAP50: 0.5, "mAP50-95": 0.3, epoch: 1 });
    assert.deepEqual(best.update(2, metrics(0.2, 0.9)), { mAP50: 0.5, "mAP50-95": 0.3, epoch: 1 }, "lower mAP50-95");
    assert.deepEqual(best.update(3, metrics(0.3, 0.6)), { mAP50: 0.6, "mAP50-95": 0.3, epoch: 3 }, "tie, better mAP50");
    assert.deepEqual(best.update(4, metrics(0.3, 0.6)), { mAP50: 0.6, "mAP50-95": 0.3, epoch: 3 }, "exact tie keeps");
    assert.deepEqual(best.update(5, metrics(null, null)), { mAP50: 0.6, "mAP50-95": 0.3, epoch: 3 }, "all-null");
    assert.deepEqual(best.update(6, metrics(0.31, 0.1)), { mAP50: 0.1, "mAP50-95": 0.31, epoch: 6 }, "higher 50-95");
  });

  test("an epoch with mAP50 only counts, below any real mAP50-95", () => {
    const best = new BestTracker();
    assert.deepEqual(best.update(1, metrics(null, 0.4)), { mAP50: 0.4, "mAP50-95": null, epoch: 1 });
    assert.deepEqual(best.update(2, metrics(0.01, 0.1)), { mAP50: 0.1, "mAP50-95": 0.01, epoch: 2 });
    assert.deepEqual(best.update(3, metrics(null, 0.99)), { mAP50: 0.1, "mAP50-95": 0.01, epoch: 2 });
  });
});

describe("epochEvent", () => {
  test("maps a trainer epoch report to a valid epoch job event with the running best", () => {
    const best = new BestTracker();
    const report = (epoch: number, m: EpochMetrics): Extract<TrainerEvent, { type: "epoch" }> => ({
      type: "epoch",
      epoch,
      total_epochs: 4,
      metrics: m,
      epoch_seconds: 2.5,
      eta_seconds: (4 - epoch) * 2.5,
      resources: { gpu_utilization: 87.5, memory_used_gb: 12.3, temperature_c: 72 },
    });
    const at = new Date("2025-01-20T10:35:42.000Z");
    best.update(1, metrics(0.5, 0.7));
    const event = epochEvent(JOB_ID, report(2, metrics(0.4, 0.8)), best, at);
    assert.deepEqual(JobEvent.parse(event), event, "expected a valid JobEvent");
    assert.equal(event.type, "epoch");
    assert.equal(event.at, "2025-01-20T10:35:42.000Z");
    assert.equal(event.percentage, 50);
    assert.equal(event.eta_seconds, 5);
    assert.deepEqual(event.metrics.current, metrics(0.4, 0.8));
    assert.deepEqual(event.metrics.best, { mAP50: 0.7, "mAP50-95": 0.5, epoch: 1 }, "expected epoch 1 still best");
    assert.deepEqual(event.resources, { gpu_utilization: 87.5, memory_used_gb: 12.3, temperature_c: 72 });
  });
});
