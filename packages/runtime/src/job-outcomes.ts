import type { NatsConnection } from "@nats-io/transport-node";
import {
  Bucket,
  OutcomeClaims,
  outcomeOf,
  parseOutcomeRecord,
  terminalEventId,
  type JobOutcome,
  type JobOutcomeRecord,
  type OutcomeDecision,
  type RunClaimResult,
  type TerminalJobEvent,
} from "@trainyard/contracts";
import { retryTransient, type TransientRetry } from "./publish.js";
import { isKvConflict, openKv } from "./stores.js";

/**
 * The job-outcomes bucket: each job ends once. Whoever ends a job claims its outcome before
 * publishing the terminal event, and the first claim wins, so a DELETE that races a job's
 * completion either cancels it (the agent then reports CANCELLED) or answers 409 (the job
 * completed), never both. An agent claims for its run (the scheduler's `attempt`), and a run the
 * scheduler replaced after its agent was lost is fenced out: it can end nothing, so an agent
 * that was only partitioned, still training, never reports over the run that replaced it.
 */
export interface JobOutcomes {
  /**
   * Claims `outcome` as the job's outcome (the gateway, the dataset service, the scheduler).
   * Resolves to the outcome that holds: `outcome` when this claim (or an earlier claim of the
   * same outcome) won, otherwise the one claimed first.
   */
  claim(jobId: string, outcome: JobOutcome): Promise<JobOutcome>;
  /**
   * An agent's claim for run `attempt`, keeping `event` (its terminal event) with the outcome.
   * Resolves to `outcome` when the claim holds for this run: it won now, or this run won before
   * (a retry after a crash). A cancellation is shared: `cancelled` claimed by anyone holds for
   * every run still current. Otherwise `superseded`: a later run was placed (the fence), or
   * someone else ended the job, and this run must publish nothing.
   */
  claimRun(
    jobId: string,
    outcome: JobOutcome,
    run: { attempt: number; event: TerminalJobEvent },
  ): Promise<RunClaimResult>;
  /**
   * Fences out every run before `attempt` (the scheduler, before it announces a new run of a job
   * whose agent was lost). Resolves to null once fenced, or to the record when an outcome was
   * claimed first (then nothing is written: the job has ended, or its claimant may still publish).
   */
  fence(jobId: string, attempt: number): Promise<JobOutcomeRecord | null>;
  /** The job's record, or null when nothing was claimed or fenced (or its key expired). */
  read(jobId: string): Promise<JobOutcomeRecord | null>;
}

export async function openJobOutcomes(nc: NatsConnection): Promise<JobOutcomes> {
  const kv = await openKv(nc, Bucket.jobOutcomes);
  const read = async (jobId: string) => {
    const entry = await kv.get(jobId);
    return entry?.operation === "PUT" ? { record: parseOutcomeRecord(entry.string()), revision: entry.revision } : null;
  };
  /**
   * Reads the record, decides (`OutcomeClaims`), and writes the decision as a compare-and-set on
   * the revision read (a create where there was none): a lost race reads and decides again.
   */
  const settle = async <R>(jobId: string, decide: (record: JobOutcomeRecord | null) => OutcomeDecision<R>) => {
    for (;;) {
      const current = await read(jobId);
      const decision = decide(current?.record ?? null);
      if (!("write" in decision)) return decision.answer;
      try {
        const value = JSON.stringify(decision.write);
        // an entry deleted in between (by an operator, or expired) is claimed again
        if (current) await kv.update(jobId, value, current.revision);
        else await kv.create(jobId, value);
        return decision.answer;
      } catch (err) {
        if (!isKvConflict(err)) throw err;
      }
    }
  };
  return {
    claim: (jobId, outcome) => settle(jobId, (record) => OutcomeClaims.claim(record, outcome)),
    claimRun: (jobId, outcome, run) => settle(jobId, (record) => OutcomeClaims.claimRun(record, outcome, run)),
    fence: (jobId, attempt) => settle(jobId, (record) => OutcomeClaims.fence(record, attempt)),
    read: async (jobId) => (await read(jobId))?.record ?? null,
  };
}

/**
 * The same bucket with every call tried again on a transient NATS error (`retry`): each call is
 * a read or a compare-and-set that decides again on what it reads, so repeating one is safe.
 */
export function retryingJobOutcomes(outcomes: JobOutcomes, retry: TransientRetry): JobOutcomes {
  return {
    claim: (jobId, outcome) => retryTransient(() => outcomes.claim(jobId, outcome), retry),
    claimRun: (jobId, outcome, run) => retryTransient(() => outcomes.claimRun(jobId, outcome, run), retry),
    fence: (jobId, attempt) => retryTransient(() => outcomes.fence(jobId, attempt), retry),
    read: (jobId) => retryTransient(() => outcomes.read(jobId), retry),
  };
}

/**
 * Publishes a job's terminal event, with the one terminal message id, if its outcome holds.
 * Resolves to the outcome that holds: when it is not the event's, nothing was published and
 * the caller reports that outcome instead (an agent whose job was cancelled reports CANCELLED).
 * With `run` (an agent), the claim is that run's (see `JobOutcomes.claimRun`) and may resolve
 * to `superseded`: then nothing is published and the run reports nothing.
 */
export async function publishOutcome(
  outcomes: Pick<JobOutcomes, "claim" | "claimRun">,
  publish: (event: TerminalJobEvent, msgId: string) => Promise<void>,
  event: TerminalJobEvent,
  run?: { attempt: number },
): Promise<RunClaimResult> {
  const outcome = outcomeOf(event);
  const holds = run
    ? await outcomes.claimRun(event.job_id, outcome, { attempt: run.attempt, event })
    : await outcomes.claim(event.job_id, outcome);
  if (holds === outcome) await publish(event, terminalEventId(event.job_id));
  return holds;
}
