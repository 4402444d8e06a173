import type { Callback, JobPhase } from "@trainyard/contracts";

/** PRD 4.2.1: a progress callback every epoch or every 5 % of progress, whichever comes first. */
export const PROGRESS_STEP_PERCENT = 5;

/** Where a job stood at its last accepted progress callback. */
export interface ProgressMark {
  phase: JobPhase;
  percentage: number;
  epoch: number | null;
}

/** What the notifier remembers of one job to decide about its next event. */
export interface JobIntake {
  /** Highest stream sequence of the job's events handled so far (0: none). */
  seenSeq: number;
  lastProgress: ProgressMark | null;
  /** Sequence of the job's terminal callback once accepted: nothing is accepted after it. */
  terminalSeq: number | null;
  /** The receiver answered 410 Gone: the job's callbacks are logged as gone, never sent. */
  gone: boolean;
}

export function freshIntake(): JobIntake {
  return { seenSeq: 0, lastProgress: null, terminalSeq: null, gone: false };
}

export type IntakeDecision =
  /** Log it as a callback: `pending` to deliver, `gone` when the receiver asked for no more. */
  { kind: "accept"; status: "pending" | "gone" } | { kind: "skip"; reason: string };

export function progressMark(callback: Callback): ProgressMark | null {
  if (callback.type !== "training_progress") return null;
  const { phase, percentage, current_epoch } = callback.progress;
  return { phase, percentage, epoch: current_epoch };
}

/** A new phase, a new epoch or another 5 % since the last progress callback makes a new one due. */
export function isProgressDue(last: ProgressMark | null, next: ProgressMark): boolean {
  if (!last) return true;
  if (next.phase !== last.phase) return true;
  if (next.epoch !== null && next.epoch !== last.epoch) return true;
  return next.percentage - last.percentage >= PROGRESS_STEP_PERCENT;
}

/**
 * Decides what becomes of the callback of the job event at stream sequence `seq` (null: an
 * event the app is not told about), and records it in `intake`.
 *
 * Invariants: nothing is accepted after the job's terminal callback; a terminal callback is
 * always accepted (even one that arrives late, after a redelivery), and only one per job; an
 * event already handled (a JetStream redelivery) is not accepted twice.
 */
export function admitEvent(intake: JobIntake, seq: number, callback: Callback | null): IntakeDecision {
  const alreadySeen = seq <= intake.seenSeq;
  intake.seenSeq = Math.max(intake.seenSeq, seq);
  if (intake.terminalSeq !== null) {
    return seq === intake.terminalSeq
      ? { kind: "skip", reason: "already handled" }
      : { kind: "skip", reason: "after the job's terminal callback" };
  }
  if (!callback) return { kind: "skip", reason: "no callback for this event" };
  const status = intake.gone ? "gone" : "pending";
  const mark = progressMark(callback);
  if (!mark) {
    intake.terminalSeq = seq;
    return { kind: "accept", status };
  }
  if (alreadySeen) return { kind: "skip", reason: "already handled" };
  if (!isProgressDue(intake.lastProgress, mark)) return { kind: "skip", reason: "throttled (PRD 4.2.1)" };
  intake.lastProgress = mark;
  return { kind: "accept", status };
}
