import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { estimateStartTime } from "./queue-estimate.js";

const NOW = new Date("2025-01-20T10:00:00Z");
const TYPICAL = 1800;
const at = (seconds: number) => new Date(NOW.getTime() + seconds * 1000).toISOString();
const estimate = (queuedAhead: number, activeJobs: number, slots: number) =>
  estimateStartTime({ now: NOW, queuedAhead, activeJobs, slots, typicalJobSeconds: TYPICAL }).toISOString();

describe("estimateStartTime", () => {
  test("an idle cluster starts the job now", () => {
    assert.equal(estimate(0, 0, 1), at(0));
  });

  test("a free slot among busy ones still means now", () => {
    assert.equal(estimate(0, 1, 2), at(0), "expected 1 active job on 2 slots to leave a slot free");
    assert.equal(estimate(1, 1, 3), at(0), "expected 2 jobs ahead on 3 slots to leave a slot free");
  });

  test("every full wave of jobs ahead adds one typical job length", () => {
    assert.equal(estimate(0, 1, 1), at(TYPICAL), "expected one busy slot to delay by one job");
    assert.equal(estimate(3, 1, 2), at(2 * TYPICAL), "expected 4 jobs on 2 slots to take two waves");
    assert.equal(estimate(4, 1, 2), at(2 * TYPICAL), "expected a partial third wave not to count");
  });

  test("no live agent is treated as one slot rather than dividing by zero", () => {
    assert.equal(estimate(2, 0, 0), at(2 * TYPICAL));
  });

  test("the estimate never decreases as the queue grows", () => {
    let previous = 0;
    for (let queued = 0; queued < 50; queued++) {
      const t = estimateStartTime({ now: NOW, queuedAhead: queued, activeJobs: 2, slots: 3, typicalJobSeconds: 60 });
      assert.ok(t.getTime() >= previous, `expected a monotonic estimate at queue length ${queued}`);
      previous = t.getTime();
    }
  });
});
