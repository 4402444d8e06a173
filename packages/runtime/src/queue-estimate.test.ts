import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { estimateStartIn, estimateStarts, typicalJobSeconds, type QueueCapacity } from "./queue-estimate.js";

const JOB = 1800;
const capacity = (c: Partial<QueueCapacity>): QueueCapacity => ({ runningEtas: [], slots: 1, jobSeconds: JOB, ...c });
/** Seconds until a job with `ahead` waiting jobs before it may start. */
const startIn = (c: Partial<QueueCapacity>, ahead = 0) => estimateStartIn(capacity(c), ahead);

describe("estimateStartIn", () => {
  test("an idle cluster starts the job now", () => {
    assert.equal(startIn({}), 0);
    assert.equal(startIn({ slots: 4 }), 0);
  });

  test("a free slot among busy ones still means now", () => {
    assert.equal(startIn({ runningEtas: [500], slots: 2 }), 0, "expected 1 running job on 2 slots to leave one free");
    assert.equal(startIn({ runningEtas: [500], slots: 3 }, 1), 0, "expected a third slot free");
  });

  test("with every slot busy, the job starts when the soonest running job ends, by its ETA", () => {
    assert.equal(startIn({ runningEtas: [600] }), 600);
    assert.equal(startIn({ runningEtas: [900, 300], slots: 2 }), 300, "expected the soonest ETA to win");
  });

  test("each job ahead takes the slot that frees first, for one typical job length", () => {
    assert.equal(startIn({ runningEtas: [600] }, 1), 600 + JOB, "one slot: ETA, then one job");
    assert.equal(
      startIn({ runningEtas: [600, 100], slots: 2 }, 1),
      600,
      "expected the job ahead on the slot free at 100 (until 1900), ours on the one free at 600",
    );
    assert.equal(startIn({ slots: 2 }, 4), 2 * JOB, "expected 4 jobs on 2 slots to take 2 rounds");
    assert.equal(startIn({ slots: 2 }, 5), 2 * JOB, "expected the 5th job ahead to use the 2nd slot");
  });

  test("a running job without an ETA yet counts as a whole typical job", () => {
    assert.equal(startIn({ runningEtas: [null] }), JOB);
    assert.equal(startIn({ runningEtas: [Number.NaN] }), JOB, "expected a broken ETA to count as unknown");
  });

  test("an overdue job (ETA below zero) frees its slot now, not in the past", () => {
    assert.equal(startIn({ runningEtas: [-50] }), 0);
  });

  test("no live agent is treated as one slot rather than never", () => {
    assert.equal(startIn({ slots: 0 }, 2), 2 * JOB);
  });
});

describe("estimateStarts", () => {
  test("gives every position its start, from the running jobs' ETAs on", () => {
    assert.deepEqual(estimateStarts(capacity({ runningEtas: [600], jobSeconds: 1000 }), 3), [600, 1600, 2600]);
    assert.deepEqual(
      estimateStarts(capacity({ runningEtas: [600, 60], slots: 2, jobSeconds: 1000 }), 3),
      [60, 600, 1060],
      "expected each job on the slot that frees first",
    );
    assert.deepEqual(estimateStarts(capacity({ slots: 4, jobSeconds: 1000 }), 2), [0, 0], "expected free slots now");
    assert.deepEqual(estimateStarts(capacity({ runningEtas: [null], slots: 0, jobSeconds: 500 }), 1), [500]);
    assert.deepEqual(estimateStarts(capacity({}), 0), [], "expected nothing for an empty queue");
  });

  test("agrees with the one-job estimate at every position, on a large cluster too", () => {
    const c = capacity({ runningEtas: [120, null, 30, 4000, 75], slots: 37, jobSeconds: 60 });
    const all = estimateStarts(c, 200);
    for (const ahead of [0, 1, 36, 37, 99, 199]) {
      assert.equal(all[ahead], estimateStartIn(c, ahead), `expected position ${ahead + 1} to agree`);
    }
  });

  test("never decreases from one position to the next, and grows by whole rounds", () => {
    const starts = estimateStarts(capacity({ runningEtas: [120, null, 30], slots: 3, jobSeconds: 60 }), 50);
    for (let i = 1; i < starts.length; i++) {
      assert.ok((starts[i] ?? 0) >= (starts[i - 1] ?? 0), `expected a monotonic estimate at position ${i + 1}`);
    }
    const rounds = estimateStarts(capacity({ slots: 3, jobSeconds: 60 }), 7);
    assert.deepEqual(rounds, [0, 0, 0, 60, 60, 60, 120], "expected three idle slots to start three jobs per round");
  });
});

describe("typicalJobSeconds", () => {
  test("is the mean of recent durations", () => {
    assert.equal(typicalJobSeconds([100, 300], JOB), 200);
  });

  test("falls back to the configured length before any job completed", () => {
    assert.equal(typicalJobSeconds([], JOB), JOB);
  });

  test("ignores missing, zero, negative and non-finite durations", () => {
    assert.equal(typicalJobSeconds([0, -5, Number.NaN, Infinity, null, 90], JOB), 90);
    assert.equal(typicalJobSeconds([0, -5, null], JOB), JOB, "expected the fallback when no duration is usable");
  });
});
