import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, it } from "node:test";
import type { Callback, JobEvent } from "@trainyard/contracts";
import { admitEvent, freshIntake, isProgressDue } from "./callback-intake.js";
import { callbackFor } from "./callback-mapping.js";
import { assignedEvent, completedEvent, epochEvent, failedEvent, phaseEvent } from "./testing/job-events.js";

const links = { publicBaseUrl: "http://127.0.0.1:8080", secret: "download-secret-0123456789", ttlHours: 168 };
const jobId = randomUUID();
const callbackOf = (event: JobEvent): Callback | null => callbackFor(event, links);

/** Feeds events with sequences 1, 2, … and returns each decision as `seq:accept` or `seq:skip(reason)`. */
function decide(events: JobEvent[], intake = freshIntake()): string[] {
  return events.map((event, i) => {
    const decision = admitEvent(intake, i + 1, callbackOf(event));
    return decision.kind === "accept" ? `${i + 1}:accept` : `${i + 1}:skip(${decision.reason})`;
  });
}

describe("callback intake", () => {
  it("accepts each phase, each epoch and the terminal callback of a job", () => {
    assert.deepEqual(
      decide([
        { type: "queued", job_id: jobId, at: "2025-01-20T10:00:00.000Z", model_name: "m", total_epochs: 2 },
        phaseEvent(jobId, { phase: "downloading", percentage: 5 }),
        assignedEvent(jobId),
        phaseEvent(jobId, { phase: "preparing", percentage: 10 }),
        epochEvent(jobId, 1),
        epochEvent(jobId, 2),
        phaseEvent(jobId, { phase: "validating", percentage: 95 }),
        completedEvent(jobId),
      ]),
      [
        "1:skip(no callback for this event)",
        "2:accept",
        "3:skip(no callback for this event)",
        "4:accept",
        "5:accept",
        "6:accept",
        "7:accept",
        "8:accept",
      ],
    );
  });

  it("throttles progress to one per epoch or per 5 %, whichever comes first (PRD 4.2.1)", () => {
    const mark = (phase: "downloading" | "training", percentage: number, epoch: number | null = null) => ({
      phase,
      percentage,
      epoch,
    });
    assert.ok(isProgressDue(null, mark("downloading", 5)));
    assert.ok(!isProgressDue(mark("downloading", 5), mark("downloading", 5)), "the same progress again");
    assert.ok(!isProgressDue(mark("downloading", 5), mark("downloading", 9.9)), "less than 5 % more");
    assert.ok(isProgressDue(mark("downloading", 5), mark("downloading", 10)), "5 % more");
    assert.ok(isProgressDue(mark("downloading", 5), mark("training", 5.5, 1)), "a new phase");
    assert.ok(isProgressDue(mark("training", 50, 500), mark("training", 50.1, 501)), "a new epoch, however small");
    assert.ok(!isProgressDue(mark("training", 50, 500), mark("training", 50.1, 500)), "the same epoch again");
    // a download reporting bytes: repeated phase events only pass every 5 %
    assert.deepEqual(
      decide([
        phaseEvent(jobId, { phase: "downloading", percentage: 1 }),
        phaseEvent(jobId, { phase: "downloading", percentage: 3 }),
        phaseEvent(jobId, { phase: "downloading", percentage: 5 }),
        phaseEvent(jobId, { phase: "downloading", percentage: 6 }),
        epochEvent(jobId, 1, 1000),
        epochEvent(jobId, 1, 1000),
      ]),
      [
        "1:accept",
        "2:skip(throttled (PRD 4.2.1))",
        "3:skip(throttled (PRD 4.2.1))",
        "4:accept",
        "5:accept",
        "6:skip(throttled (PRD 4.2.1))",
      ],
    );
  });

  it("accepts nothing after the terminal callback, and only one terminal callback", () => {
    assert.deepEqual(decide([epochEvent(jobId, 1), failedEvent(jobId), epochEvent(jobId, 2), completedEvent(jobId)]), [
      "1:accept",
      "2:accept",
      "3:skip(after the job's terminal callback)",
      "4:skip(after the job's terminal callback)",
    ]);
  });

  it("does not accept a redelivered event twice, but never drops a late terminal callback", () => {
    const intake = freshIntake();
    assert.equal(admitEvent(intake, 10, callbackOf(epochEvent(jobId, 1))).kind, "accept");
    assert.equal(admitEvent(intake, 12, callbackOf(epochEvent(jobId, 2))).kind, "accept");
    assert.deepEqual(admitEvent(intake, 10, callbackOf(epochEvent(jobId, 1))), {
      kind: "skip",
      reason: "already handled",
    });
    // the terminal event at 11 arrives after 12 (redelivered after a crash): it is still the job's end
    assert.deepEqual(admitEvent(intake, 11, callbackOf(completedEvent(jobId))), { kind: "accept", status: "pending" });
    assert.deepEqual(admitEvent(intake, 11, callbackOf(completedEvent(jobId))), {
      kind: "skip",
      reason: "already handled",
    });
  });

  it("logs a gone job's callbacks as gone instead of sending them", () => {
    const intake = { ...freshIntake(), gone: true };
    assert.deepEqual(admitEvent(intake, 1, callbackOf(epochEvent(jobId, 1))), { kind: "accept", status: "gone" });
    assert.deepEqual(admitEvent(intake, 2, callbackOf(completedEvent(jobId))), { kind: "accept", status: "gone" });
  });
});
