import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { estimateStartTime, typicalJobSeconds, type QueueSnapshot } from "./queue-estimate.js";

const NOW = new Date("2025-01-20T10:00:00Z");
const JOB = 1800;
const at = (seconds: number) => new Date(NOW.getTime() + seconds * 1000).toISOString();
const estimate = (queue: Partial<QueueSnapshot>) =>
  estimateStartTime(NOW, { runningEtas: [], queuedAhead: 0, slots: 1, jobSeconds: JOB, ...queue }).toISOString();

describe("estimateStartTime", () => {
  test("an idle cluster starts the job now", () => {
    assert.equal(estimate({}), at(0));
    assert.equal(estimate({ slots: 4 }), at(0));
  });

  test("a free slot among busy ones still means now", () => {
    assert.equal(
      estimate({ runningEtas: [500], slots: 2 }),
      at(0),
      "expected 1 running job on 2 slots to leave one free",
    );
    assert.equal(estimate({ runningEtas: [500], queuedAhead: 1, slots: 3 }), at(0), "expected a third slot free");
  });

  test("with every slot busy, the job starts when the soonest running job ends, by its ETA", () => {
    assert.equal(estimate({ runningEtas: [600] }), at(600));
    assert.equal(estimate({ runningEtas: [900, 300], slots: 2 }), at(300), "expected the soonest ETA to win");
  });

  test("each job ahead takes the slot that frees first, for one typical job length", () => {
    assert.equal(estimate({ runningEtas: [600], queuedAhead: 1 }), at(600 + JOB), "one slot: ETA, then one job");
    assert.equal(
      estimate({ runningEtas: [600, 100], queuedAhead: 1, slots: 2 }),
      at(600),
      "expected the job ahead on the slot free at 100 (until 1900), ours on the one free at 600",
    );
    assert.equal(estimate({ queuedAhead: 4, slots: 2 }), at(2 * JOB), "expected 4 jobs on 2 slots to take 2 rounds");
    assert.equal(estimate({ queuedAhead: 5, slots: 2 }), at(2 * JOB), "expected the 5th job ahead to use the 2nd slot");
  });

  test("a running job without an ETA yet counts as a whole typical job", () => {
    assert.equal(estimate({ runningEtas: [null] }), at(JOB));
    assert.equal(estimate({ runningEtas: [Number.NaN] }), at(JOB), "expected a broken ETA to count as unknown");
  });

  test("an overdue job (ETA below zero) frees its slot now, not in the past", () => {
    assert.equal(estimate({ runningEtas: [-50] }), at(0));
  });

  test("no live agent is treated as one slot rather than never", () => {
    assert.equal(estimate({ queuedAhead: 2, slots: 0 }), at(2 * JOB));
  });

  test("the estimate never decreases as the queue grows, and grows by whole rounds", () => {
    let previous = -1;
    for (let queued = 0; queued < 50; queued++) {
      const t = Date.parse(estimate({ runningEtas: [120, null, 30], queuedAhead: queued, slots: 3, jobSeconds: 60 }));
      assert.ok(t >= previous, `expected a monotonic estimate at queue length ${queued}`);
      previous = t;
    }
  });
});

describe("typicalJobSeconds", () => {
  test("is the mean of recent durations", () => {
    assert.equal(typicalJobSeconds([100, 300], JOB), 200);
  });

  test("falls back to the configured length before any job completed", () => {
    assert.equal(typicalJobSeconds([], JOB), JOB);
  });

  test("ignores zero, negative and non-finite durations", () => {
    assert.equal(typicalJobSeconds([0, -5, Number.NaN, Infinity, 90], JOB), 90);
    assert.equal(typicalJobSeconds([0, -5], JOB), JOB, "expected the fallback when no duration is usable");
  });
});
