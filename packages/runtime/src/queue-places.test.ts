import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { queueEntry } from "@trainyard/stack";
import { queuePlaces, queueSnapshot } from "./queue-places.js";

const JOB = 100;

describe("queueSnapshot", () => {
  test("orders waiting jobs as the scheduler takes them: priority first, then arrival", () => {
    const snapshot = queueSnapshot([
      queueEntry("late-normal", 9),
      queueEntry("low", 1, { priority: "low" }),
      queueEntry("early-normal", 3),
      queueEntry("high", 20, { priority: "high" }),
      queueEntry("running", 2, { placed: true }),
    ]);
    assert.deepEqual(snapshot.waiting, ["high", "early-normal", "late-normal", "low"]);
    assert.deepEqual([...snapshot.placed], ["running"], "expected the placed job apart from the waiting ones");
  });
});

describe("queuePlaces", () => {
  const snapshot = queueSnapshot([queueEntry("j1", 1), queueEntry("j2", 2), queueEntry("j3", 3)]);

  test("waiting jobs get 1-based positions in queue order and their start estimates", () => {
    const places = queuePlaces(snapshot, { runningEtas: [30], slots: 2, jobSeconds: JOB });
    assert.deepEqual(places.of("j1"), { state: "waiting", position: 1, startsIn: 0 }, "a free slot: now");
    assert.deepEqual(places.of("j2"), { state: "waiting", position: 2, startsIn: 30 }, "after the running job");
    assert.deepEqual(places.of("j3"), { state: "waiting", position: 3, startsIn: JOB });
    assert.deepEqual(
      places.waiting,
      [
        { jobId: "j1", startsIn: 0 },
        { jobId: "j2", startsIn: 30 },
        { jobId: "j3", startsIn: JOB },
      ],
      "expected the whole queue in order",
    );
  });

  test("a job not in the queue yet (dataset still being prepared) has no position and joins behind the queue", () => {
    const places = queuePlaces(snapshot, { runningEtas: [], slots: 1, jobSeconds: JOB });
    assert.deepEqual(places.of("preparing"), { state: "not_queued", position: null, startsIn: 3 * JOB });
    assert.equal(places.nextStartsIn, 3 * JOB);
  });

  test("a placed job is assigned, and holds its slot even before the projection shows it training", () => {
    const withPlaced = queueSnapshot([queueEntry("starting", 1, { placed: true }), queueEntry("next", 2)]);
    const places = queuePlaces(withPlaced, { runningEtas: [], slots: 1, jobSeconds: JOB });
    assert.deepEqual(places.of("starting"), { state: "assigned", position: null, startsIn: 0 });
    assert.deepEqual(
      places.of("next"),
      { state: "waiting", position: 1, startsIn: JOB },
      "expected the just-assigned job to count as a whole job on the one slot",
    );
    const training = queuePlaces(withPlaced, { runningEtas: [40], slots: 1, jobSeconds: JOB });
    assert.equal(training.of("next").startsIn, 40, "expected the placed job's ETA once it trains, not a second job");
  });

  test("an empty queue: the next job starts when a slot frees", () => {
    const places = queuePlaces(queueSnapshot([]), { runningEtas: [70], slots: 1, jobSeconds: JOB });
    assert.deepEqual(places.waiting, []);
    assert.equal(places.nextStartsIn, 70);
  });
});
