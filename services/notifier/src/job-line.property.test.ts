/**
 * Property test of the delivery rules on random interleavings of a job's events (with
 * JetStream redeliveries and stragglers after the end) and of its receiver's answers: the intake
 * and the job line as the notifier runs them, on a simulated clock.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { JobEvent } from "@trainyard/contracts";
import { admitEvent, freshIntake } from "./callback-intake.js";
import { callbackFor } from "./callback-mapping.js";
import { JobLine, type SettledStatus } from "./job-line.js";
import type { AttemptVerdict, RetryPolicy } from "./retry-schedule.js";
import { completedEvent, epochEvent, failedEvent, phaseEvent } from "./testing/job-events.js";

const links = { publicBaseUrl: "http://127.0.0.1:8080", secret: "download-secret-0123456789", ttlHours: 168 };
const policy: RetryPolicy = { scheduleMs: [10, 20, 40, 80, 160, 320, 640, 1_280, 2_560], jitter: 0.2 };

type Answer = "ok" | "fail" | "busy" | "gone";
type Action = "publish" | "attempt" | "duplicate";

/** A job's events in publication order: phases, epochs, the terminal event, then stragglers. */
function jobEvents(jobId: string, epochs: number, ending: "completed" | "failed", stragglers: number): JobEvent[] {
  return [
    phaseEvent(jobId, { phase: "downloading", percentage: 5, total_epochs: epochs }),
    phaseEvent(jobId, { phase: "preparing", percentage: 10, total_epochs: epochs }),
    ...Array.from({ length: epochs }, (_, i) => epochEvent(jobId, i + 1, epochs)),
    phaseEvent(jobId, { phase: "validating", percentage: 95, total_epochs: epochs }),
    ending === "completed" ? completedEvent(jobId) : failedEvent(jobId),
    ...Array.from({ length: stragglers }, (_, i) => epochEvent(jobId, epochs + i + 1, epochs + stragglers)),
  ];
}

interface Run {
  /** Ids in the order attempts were made, with the callback's kind. */
  attempts: Array<{ id: string; seq: number; terminal: boolean }>;
  settled: Map<string, SettledStatus>;
  accepted: Array<{ id: string; seq: number; terminal: boolean }>;
  goneAnswered: boolean;
}

function simulate(events: JobEvent[], actions: Action[], answers: Answer[]): Run {
  const intake = freshIntake();
  const line = new JobLine(policy, () => 0.5);
  const run: Run = { attempts: [], settled: new Map(), accepted: [], goneAnswered: false };
  let published = 0;
  let now = 0;
  let answer = 0;
  const record = (changes: ReturnType<JobLine["admit"]>) => {
    for (const s of changes.settled) {
      assert.ok(!run.settled.has(s.id), `${s.id} settled twice`);
      run.settled.set(s.id, s.status);
    }
    if (changes.gone) intake.gone = true;
  };
  const feed = (seq: number) => {
    const event = events[seq - 1]!;
    const decision = admitEvent(intake, seq, callbackFor(event, links));
    if (decision.kind !== "accept") return;
    const item = { id: `c${seq}`, seq, terminal: event.type === "completed" || event.type === "failed" };
    run.accepted.push(item);
    if (decision.status === "gone") run.settled.set(item.id, "gone");
    else record(line.admit({ ...item, failures: 0, dueAt: now, pinned: false }));
  };
  const attempt = () => {
    const step = line.next(now);
    if (step.kind === "wait") now = step.until;
    const ready = line.next(now);
    if (ready.kind !== "send") return;
    line.begin(ready.item.id);
    run.attempts.push({ id: ready.item.id, seq: ready.item.seq, terminal: ready.item.terminal });
    const given = answers[answer++] ?? "ok";
    const verdict: AttemptVerdict =
      given === "ok"
        ? { kind: "delivered" }
        : given === "gone"
          ? { kind: "gone" }
          : { kind: "failed", reason: given, retryAfterMs: given === "busy" ? 500 : null };
    if (given === "gone") run.goneAnswered = true;
    record(line.settle(ready.item.id, verdict, now));
  };
  for (const action of actions) {
    if (action === "publish" && published < events.length) feed(++published);
    else if (action === "duplicate" && published > 0) feed(published);
    else if (action === "attempt") attempt();
  }
  while (published < events.length) feed(++published);
  for (let guard = 0; line.size > 0; guard++) {
    assert.ok(guard < 10_000, "the line must drain");
    attempt();
  }
  return run;
}

const scenario = fc.record({
  epochs: fc.integer({ min: 1, max: 12 }),
  ending: fc.constantFrom<"completed" | "failed">("completed", "failed"),
  stragglers: fc.integer({ min: 0, max: 2 }),
  actions: fc.array(fc.constantFrom<Action>("publish", "publish", "attempt", "attempt", "duplicate"), {
    maxLength: 80,
  }),
});

describe("delivery rules on random interleavings (property)", () => {
  it("no progress after the terminal callback; the terminal callback is always delivered", () => {
    fc.assert(
      fc.property(
        scenario,
        // at most as many failures as the schedule has steps: the receiver always recovers in time
        fc.array(fc.constantFrom<Answer>("ok", "fail", "fail", "busy"), { maxLength: policy.scheduleMs.length }),
        ({ epochs, ending, stragglers, actions }, answers) => {
          const run = simulate(jobEvents(randomUUID(), epochs, ending, stragglers), actions, answers);
          const terminalAt = run.attempts.findIndex((a) => a.terminal);
          assert.ok(terminalAt !== -1, "the terminal callback was attempted");
          assert.ok(
            run.attempts.slice(terminalAt).every((a) => a.terminal),
            `no progress after the terminal callback: ${run.attempts.map((a) => a.id).join(" ")}`,
          );
          const firstTries = run.attempts.filter((a, i) => run.attempts.findIndex((b) => b.id === a.id) === i);
          const seqs = firstTries.map((a) => a.seq);
          assert.deepEqual(
            seqs,
            [...seqs].sort((a, b) => a - b),
            "callbacks leave in publication order",
          );
          const terminals = run.accepted.filter((a) => a.terminal);
          assert.equal(terminals.length, 1, "exactly one terminal callback per job");
          assert.equal(run.settled.get(terminals[0]!.id), "delivered", "the terminal callback is delivered");
          for (const item of run.accepted) {
            const status = run.settled.get(item.id);
            assert.ok(status === "delivered" || status === "superseded", `${item.id} ended ${status}`);
            if (status === "superseded") assert.ok(!item.terminal, "only progress callbacks are superseded");
          }
          assert.ok(
            run.accepted.every((a) => !a.terminal || a.seq === Math.max(...run.accepted.map((b) => b.seq))),
            "nothing is accepted after the terminal callback",
          );
        },
      ),
      { numRuns: 300 },
    );
  });

  it("after a 410 nothing more is sent for the job, and every callback is settled", () => {
    fc.assert(
      fc.property(
        scenario,
        fc.array(fc.constantFrom<Answer>("ok", "fail", "gone"), { minLength: 1, maxLength: 8 }),
        ({ epochs, ending, stragglers, actions }, answers) => {
          const run = simulate(jobEvents(randomUUID(), epochs, ending, stragglers), actions, answers);
          for (const item of run.accepted) assert.ok(run.settled.has(item.id), `${item.id} is settled`);
          if (!run.goneAnswered) return;
          const goneAt = answers.indexOf("gone");
          assert.equal(run.attempts.length, goneAt + 1, "no attempt after the 410");
          const sentOk = new Set(run.attempts.slice(0, goneAt).map((a) => a.id));
          for (const item of run.accepted) {
            const status = run.settled.get(item.id);
            if (status === "delivered") assert.ok(sentOk.has(item.id));
            else assert.ok(status === "gone" || status === "superseded", `${item.id} ended ${status}`);
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
