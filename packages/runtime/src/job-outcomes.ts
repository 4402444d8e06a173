import type { NatsConnection } from "@nats-io/transport-node";
import { Bucket, JobOutcome, outcomeOf, terminalEventId, type JobEventOf } from "@trainyard/contracts";
import { isKvConflict, openKv } from "./stores.js";

/**
 * The job-outcomes bucket: each job ends once. Whoever ends a job claims its outcome before
 * publishing the terminal event, and the first claim wins, so a DELETE that races a job's
 * completion either cancels it (the agent then reports CANCELLED) or answers 409 (the job
 * completed), never both.
 */
export interface JobOutcomes {
  /**
   * Claims `outcome` as the job's outcome. Resolves to the outcome that holds: `outcome` when
   * this claim (or an earlier claim of the same outcome) won, otherwise the one claimed first.
   */
  claim(jobId: string, outcome: JobOutcome): Promise<JobOutcome>;
}

export async function openJobOutcomes(nc: NatsConnection): Promise<JobOutcomes> {
  const kv = await openKv(nc, Bucket.jobOutcomes);
  return {
    async claim(jobId, outcome) {
      for (;;) {
        try {
          await kv.create(jobId, outcome);
          return outcome;
        } catch (err) {
          if (!isKvConflict(err)) throw err;
        }
        const entry = await kv.get(jobId);
        // an entry deleted in between (by an operator): claim again
        if (entry?.operation === "PUT") return JobOutcome.parse(entry.string());
      }
    },
  };
}

/**
 * Publishes a job's terminal event, with the one terminal message id, if its outcome holds.
 * Resolves to the outcome that holds: when it is not the event's, nothing was published and
 * the caller reports that outcome instead (an agent whose job was cancelled reports CANCELLED).
 */
export async function publishOutcome(
  outcomes: JobOutcomes,
  publish: (event: JobEventOf<"completed" | "failed">, msgId: string) => Promise<void>,
  event: JobEventOf<"completed" | "failed">,
): Promise<JobOutcome> {
  const outcome = outcomeOf(event);
  const holds = await outcomes.claim(event.job_id, outcome);
  if (holds === outcome) await publish(event, terminalEventId(event.job_id));
  return holds;
}
