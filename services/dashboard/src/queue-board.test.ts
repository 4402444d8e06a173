import assert from "node:assert/strict";
import { describe, it, mock } from "node:test";
import { createLogger, type QueueSnapshot } from "@trainyard/runtime";
import type { QueueView } from "./job-wire.js";
import { QueueBoard, type QueueBoardDeps } from "./queue-board.js";

const NOW = new Date("2025-01-20T10:00:00.000Z");
const at = (seconds: number) => new Date(NOW.getTime() + seconds * 1000).toISOString();

/** A board over a queue and projection the test sets, recording what it publishes. */
function board(overrides: Partial<QueueBoardDeps> = {}) {
  const state = {
    snapshot: { waiting: [], placed: new Set<string>() } as QueueSnapshot,
    runningEtas: [] as Array<number | null>,
    recentDurations: [] as number[],
    slots: 1,
    reads: 0,
    failing: false,
  };
  const published: QueueView[] = [];
  const queueBoard = new QueueBoard({
    queue: { snapshot: () => state.snapshot },
    readInputs: () => {
      state.reads++;
      if (state.failing) return Promise.reject(new Error("mongo down"));
      return Promise.resolve({ runningEtas: state.runningEtas, recentDurations: state.recentDurations });
    },
    slots: () => state.slots,
    fallbackJobSeconds: 1000,
    changed: (view) => published.push(view),
    log: createLogger("queue-board-test", "silent"),
    settleMs: 20,
    now: () => NOW,
    ...overrides,
  });
  return { state, published, queueBoard };
}

/** Runs the board's settle timer (mocked) and lets the refresh it starts finish. */
async function settle(ms: number): Promise<void> {
  mock.timers.tick(ms);
  for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve));
}

describe("QueueBoard", () => {
  it("shows the waiting jobs in the queue's order with their starts, the placed ones, and the start behind them", async () => {
    const { state, queueBoard } = board();
    state.snapshot = { waiting: ["b", "a"], placed: new Set(["r"]) };
    state.runningEtas = [300];
    state.recentDurations = [100, 300];
    await queueBoard.refresh();
    assert.deepEqual(queueBoard.view(), {
      waiting: [
        { job_id: "b", estimated_start_time: at(300) },
        { job_id: "a", estimated_start_time: at(500) },
      ],
      assigned: ["r"],
      next_start_time: at(700),
    });
  });

  it("folds changes close together into one refresh, and publishes only what changed", async () => {
    mock.timers.enable({ apis: ["setTimeout"] });
    try {
      const { state, published, queueBoard } = board();
      state.snapshot = { waiting: ["a"], placed: new Set() };
      for (let i = 0; i < 5; i++) queueBoard.invalidate();
      await settle(19);
      assert.equal(state.reads, 0, "expected no read before the settle time");
      await settle(1);
      assert.equal(state.reads, 1, "expected one read for five changes");
      assert.equal(published.length, 1);
      await settle(1_000);
      assert.equal(state.reads, 1, "expected no further read without a change");
      queueBoard.invalidate();
      await settle(20);
      assert.equal(state.reads, 2);
      assert.equal(published.length, 1, "expected nothing published when the view did not change");
      queueBoard.stop();
    } finally {
      mock.timers.reset();
    }
  });

  it("more slots bring the starts forward", async () => {
    const { state, queueBoard } = board();
    state.snapshot = { waiting: ["a", "b"], placed: new Set(["r"]) };
    state.runningEtas = [600];
    await queueBoard.refresh();
    assert.deepEqual(
      queueBoard.view().waiting.map((w) => w.estimated_start_time),
      [at(600), at(1600)],
    );
    state.slots = 2;
    await queueBoard.refresh();
    assert.deepEqual(
      queueBoard.view().waiting.map((w) => w.estimated_start_time),
      [at(0), at(600)],
      "expected the second slot free now",
    );
  });

  it("keeps the last view when the projection cannot be read", async () => {
    const { state, published, queueBoard } = board();
    state.snapshot = { waiting: ["a"], placed: new Set() };
    await queueBoard.refresh();
    const before = queueBoard.view();
    state.failing = true;
    state.snapshot = { waiting: [], placed: new Set() };
    await queueBoard.refresh();
    assert.equal(queueBoard.view(), before, "expected the last good view kept");
    assert.equal(published.length, 1);
  });

  it("a change during a refresh is not lost: one more refresh follows", async () => {
    const pending: Array<() => void> = [];
    let etas: Array<number | null> = [];
    const { state, queueBoard } = board({
      // each read sees the projection as it was when the read began, and answers when released
      readInputs: () => {
        state.reads++;
        const seen = etas;
        return new Promise((resolve) => pending.push(() => resolve({ runningEtas: seen, recentDurations: [] })));
      },
    });
    state.snapshot = { waiting: ["a", "b"], placed: new Set(["r"]) };
    const first = queueBoard.refresh();
    etas = [50]; // the running job reports its ETA while the first read is on its way
    const second = queueBoard.refresh();
    pending.shift()?.();
    while (state.reads < 2) await new Promise((resolve) => setTimeout(resolve, 5));
    pending.shift()?.();
    await Promise.all([first, second]);
    assert.equal(state.reads, 2, "expected exactly one more read");
    assert.equal(queueBoard.view().waiting[0]?.estimated_start_time, at(50), "expected the ETA of the later read");
  });
});
