import {
  TrainingProgressCallback,
  type Callback,
  type CallbackDelivery,
  type CallbackType,
} from "@trainyard/contracts";
import { freshIntake, progressMark, type JobIntake } from "./callback-intake.js";
import type { LineItem } from "./job-line.js";
import { webhookId } from "./signature.js";

export const isTerminalType = (type: CallbackType): boolean =>
  type === "training_completed" || type === "training_failed";

/** The delivery log's document of a callback just accepted; its body is computed once, here. */
export function newDelivery(callback: Callback, seq: number, status: "pending" | "gone", at: Date): CallbackDelivery {
  return {
    _id: webhookId(callback.job_id, seq),
    job_id: callback.job_id,
    seq,
    type: callback.type,
    status,
    body: JSON.stringify(callback),
    attempts: [],
    failures: 0,
    reason: status === "gone" ? "the receiver answered 410 Gone to an earlier callback of this job" : null,
    revision: 1,
    redelivered_at: null,
    created_at: at,
    updated_at: at,
    next_attempt_at: status === "pending" ? at : null,
  };
}

/** A logged open callback as its job's line holds it. */
export function lineItemOf(doc: CallbackDelivery, now: number): LineItem {
  return {
    id: doc._id,
    seq: doc.seq,
    terminal: isTerminalType(doc.type),
    failures: doc.failures,
    dueAt: doc.next_attempt_at?.getTime() ?? now,
    pinned: doc.redelivered_at !== null,
  };
}

/**
 * What the intake of a job knew, rebuilt from the job's logged callbacks (in sequence order):
 * the last sequence, the last accepted progress, the terminal callback and whether the receiver
 * had answered 410 (its latest answer that settled a callback, delivered or gone, decides).
 */
export function intakeFromLog(docs: readonly CallbackDelivery[]): JobIntake {
  const intake = freshIntake();
  for (const doc of docs) {
    intake.seenSeq = Math.max(intake.seenSeq, doc.seq);
    if (isTerminalType(doc.type)) {
      intake.terminalSeq = doc.seq;
      continue;
    }
    const parsed = TrainingProgressCallback.safeParse(safeJson(doc.body));
    const mark = parsed.success ? progressMark(parsed.data) : null;
    if (mark) intake.lastProgress = mark;
  }
  const answered = docs
    .filter((d) => d.status === "delivered" || d.status === "gone")
    .sort((a, b) => a.updated_at.getTime() - b.updated_at.getTime());
  intake.gone = answered.at(-1)?.status === "gone";
  return intake;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}
