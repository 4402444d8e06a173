import { JobOutcome, JobOutcomeRecord, type TerminalJobEvent } from "./events.js";

/**
 * The rules of the job-outcomes bucket, as pure decisions over the record a claim read; the
 * bucket (@trainyard/runtime `openJobOutcomes`) writes a decision as a compare-and-set on that
 * record's revision, and decides again when it lost a race.
 */

/** What an agent's claim answers when the job is not its run's to end. */
export const SUPERSEDED = "superseded";
export type RunClaimResult = JobOutcome | typeof SUPERSEDED;

/** A claim's decision about the record it read: write this record (then answer), or only answer. */
export type OutcomeDecision<R> = { write: JobOutcomeRecord; answer: R } | { answer: R };

export const OutcomeClaims = {
  /** The gateway, the dataset service, the scheduler: the first outcome claimed holds. */
  claim(record: JobOutcomeRecord | null, outcome: JobOutcome): OutcomeDecision<JobOutcome> {
    if (record?.outcome) return { answer: record.outcome };
    return { write: { ...unclaimed(record), outcome }, answer: outcome };
  },

  /**
   * An agent's claim for its run: holds when it wins now or this run won before (a retry after
   * a crash); a cancellation holds for every run still current; anything else — a later run was
   * placed (the fence), another run or service ended the job — supersedes this run.
   */
  claimRun(
    record: JobOutcomeRecord | null,
    outcome: JobOutcome,
    run: { attempt: number; event: TerminalJobEvent },
  ): OutcomeDecision<RunClaimResult> {
    if (record?.fence && record.fence > run.attempt) return { answer: SUPERSEDED };
    if (record?.outcome === "cancelled") return { answer: "cancelled" };
    if (record?.outcome) return { answer: record.attempt === run.attempt ? record.outcome : SUPERSEDED };
    return { write: { ...unclaimed(record), outcome, attempt: run.attempt, event: run.event }, answer: outcome };
  },

  /** The scheduler fences out runs before `attempt`; an outcome claimed first is left as it is and returned. */
  fence(record: JobOutcomeRecord | null, attempt: number): OutcomeDecision<JobOutcomeRecord | null> {
    if (record?.outcome) return { answer: record };
    if (record?.fence && record.fence >= attempt) return { answer: null };
    return { write: { ...unclaimed(record), fence: attempt }, answer: null };
  },
} as const;

/** A record with no outcome, keeping the fence of the one read. */
function unclaimed(record: JobOutcomeRecord | null): JobOutcomeRecord {
  return { outcome: null, attempt: null, fence: record?.fence ?? null, event: null };
}

/** A stored value: the record, or a bare outcome as written before runs were numbered. */
export function parseOutcomeRecord(text: string): JobOutcomeRecord {
  const bare = JobOutcome.safeParse(text);
  if (bare.success) return { outcome: bare.data, attempt: null, fence: null, event: null };
  return JobOutcomeRecord.parse(JSON.parse(text));
}
