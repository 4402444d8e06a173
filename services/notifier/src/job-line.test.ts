import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { JobLine, type LineItem } from "./job-line.js";
import type { AttemptVerdict, RetryPolicy } from "./retry-schedule.js";

const policy: RetryPolicy = { scheduleMs: [100, 1_000, 10_000], jitter: 0 };
const failed: AttemptVerdict = { kind: "failed", reason: "receiver answered 503", retryAfterMs: null };
const delivered: AttemptVerdict = { kind: "delivered" };

const progress = (seq: number, extra: Partial<LineItem> = {}): LineItem => ({
  id: `p${seq}`,
  seq,
  terminal: false,
  failures: 0,
  dueAt: 0,
  pinned: false,
  ...extra,
});
const terminal = (seq: number): LineItem => ({ ...progress(seq), id: `t${seq}`, terminal: true });

/** Sends the head at `now` with `verdict`; returns the id sent. */
function attempt(line: JobLine, now: number, verdict: AttemptVerdict) {
  const step = line.next(now);
  assert.equal(step.kind, "send", `expected a callback due at ${now}, got ${JSON.stringify(step)}`);
  const id = step.kind === "send" ? step.item.id : "";
  line.begin(id);
  return { id, changes: line.settle(id, verdict, now) };
}

describe("job line", () => {
  it("sends one callback at a time, in sequence order, the terminal one last", () => {
    const line = new JobLine(policy);
    line.admit(terminal(9));
    line.admit(progress(7));
    line.admit(progress(3));
    assert.deepEqual(line.ids(), ["p3", "p7", "t9"]);
    const step = line.next(0);
    assert.equal(step.kind === "send" && step.item.id, "p3");
    line.begin("p3");
    assert.deepEqual(line.next(0), { kind: "busy" }, "one attempt at a time per job");
    line.settle("p3", delivered, 0);
    assert.equal(attempt(line, 0, delivered).id, "p7");
    assert.equal(attempt(line, 0, delivered).id, "t9");
    assert.deepEqual(line.next(0), { kind: "idle" });
  });

  it("retries on the schedule and dead-letters after the last step", () => {
    const line = new JobLine(policy);
    line.admit(terminal(1));
    const first = attempt(line, 0, failed).changes;
    assert.deepEqual(first.rescheduled, [
      { id: "t1", status: "retrying", failures: 1, dueAt: 100, reason: "receiver answered 503" },
    ]);
    assert.deepEqual(line.next(50), { kind: "wait", until: 100 });
    attempt(line, 100, failed);
    attempt(line, 1_100, failed);
    const last = attempt(line, 11_100, failed).changes;
    assert.deepEqual(last.settled, [
      { id: "t1", status: "dead_lettered", reason: "4 failed attempts; last: receiver answered 503" },
    ]);
    assert.equal(line.size, 0);
  });

  it("honours Retry-After", () => {
    const line = new JobLine(policy);
    line.admit(progress(1));
    attempt(line, 0, { kind: "failed", reason: "receiver answered 429", retryAfterMs: 5_000 });
    assert.deepEqual(line.next(0), { kind: "wait", until: 5_000 });
  });

  it("folds stale progress callbacks into the newest while the receiver fails, never the terminal one", () => {
    const line = new JobLine(policy);
    line.admit(progress(1));
    attempt(line, 0, failed);
    const folded = line.admit(progress(2));
    assert.deepEqual(
      folded.settled.map((s) => `${s.id} ${s.status}`),
      ["p1 superseded"],
    );
    assert.deepEqual(folded.rescheduled, [
      { id: "p2", status: "retrying", failures: 1, dueAt: 100, reason: "waiting for the receiver to recover" },
    ]);
    line.admit(progress(3));
    line.admit(terminal(4));
    assert.deepEqual(line.ids(), ["p3", "t4"], "the newest progress and the terminal callback remain");
    assert.deepEqual(line.next(0), { kind: "wait", until: 100 }, "the newest inherits the schedule");
    attempt(line, 100, failed);
    assert.deepEqual(line.ids(), ["p3", "t4"]);
    assert.equal(attempt(line, 1_100, delivered).id, "p3");
    assert.equal(attempt(line, 1_100, delivered).id, "t4");
  });

  it("keeps every progress callback while the receiver answers", () => {
    const line = new JobLine(policy);
    for (const seq of [1, 2, 3]) line.admit(progress(seq));
    assert.deepEqual(line.ids(), ["p1", "p2", "p3"]);
    attempt(line, 0, delivered);
    line.admit(progress(4));
    assert.deepEqual(line.ids(), ["p2", "p3", "p4"]);
  });

  it("folds callbacks queued behind an attempt in flight once that attempt fails", () => {
    const line = new JobLine(policy);
    line.admit(progress(1));
    attempt(line, 0, failed);
    const step = line.next(100);
    assert.equal(step.kind, "send");
    line.begin("p1");
    line.admit(progress(2));
    line.admit(progress(3));
    assert.deepEqual(line.ids(), ["p1", "p3"], "p2 folds into p3; p1 is in flight and stays");
    const changes = line.settle("p1", failed, 100);
    assert.deepEqual(
      changes.settled.map((s) => `${s.id} ${s.status}`),
      ["p1 superseded"],
    );
    assert.deepEqual(changes.rescheduled, [
      { id: "p3", status: "retrying", failures: 2, dueAt: 1_100, reason: "waiting for the receiver to recover" },
    ]);
  });

  it("stops every callback of the job on 410 Gone", () => {
    const line = new JobLine(policy);
    line.admit(progress(1));
    line.admit(progress(2));
    line.admit(terminal(3));
    const { changes } = attempt(line, 0, { kind: "gone" });
    assert.equal(changes.gone, true);
    assert.deepEqual(
      changes.settled.map((s) => `${s.id} ${s.status}`),
      ["p1 gone", "p2 gone", "t3 gone"],
    );
    assert.deepEqual(line.next(0), { kind: "idle" });
  });

  it("dead-letters a refused URL at once", () => {
    const line = new JobLine(policy);
    line.admit(progress(1));
    const { changes } = attempt(line, 0, { kind: "refused", reason: "callback URL refused: loopback" });
    assert.deepEqual(changes.settled, [
      { id: "p1", status: "dead_lettered", reason: "callback URL refused: loopback" },
    ]);
  });

  it("drops progress published after a late terminal callback, and never folds a redelivered one", () => {
    const line = new JobLine(policy);
    line.admit(progress(5));
    line.admit(progress(8));
    const late = line.admit(terminal(6));
    assert.deepEqual(
      late.settled.map((s) => `${s.id} ${s.status}`),
      ["p8 superseded"],
    );
    line.admit(progress(2, { pinned: true }));
    attempt(line, 0, failed);
    assert.deepEqual(line.ids(), ["p2", "p5", "t6"], "the pinned (redelivered) callback is not folded away");
  });

  it("restarts a callback's schedule when an operator redelivers it", () => {
    const line = new JobLine(policy);
    line.admit(progress(1));
    attempt(line, 0, failed);
    attempt(line, 100, failed);
    const changes = line.retryNow("p1", 500, "redelivery requested");
    assert.deepEqual(changes.rescheduled, [
      { id: "p1", status: "pending", failures: 0, dueAt: 500, reason: "redelivery requested" },
    ]);
    assert.equal(line.next(500).kind, "send");
  });
});
