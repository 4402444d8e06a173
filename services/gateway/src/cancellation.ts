import {
  cancelledEvent,
  terminalEventId,
  type FailurePhase,
  type JobCancelled,
  type JobRecord,
} from "@trainyard/contracts";
import type { Bus } from "./adapters/bus.js";
import type { JobStore } from "./adapters/job-store.js";

export type CancelResult =
  | { kind: "cancelled"; body: JobCancelled }
  | { kind: "not_found" }
  | { kind: "finished"; status: "completed" | "failed" };

export interface CancelDeps {
  store: JobStore;
  bus: Pick<Bus, "claimOutcome" | "requestCancellation" | "isCancellationRequested" | "publishJobEvent">;
  now(): Date;
}

/**
 * Cancels a job from any state (PRD 7.3, 17.4). The request goes to the cancellations bucket,
 * so the dataset service, the scheduler and the agents see it before their next step (an agent
 * watching it stops its trainer at once); GET reads it too, so a GET right after answers
 * `cancelled` before the projection has applied the CANCELLED event. The gateway never writes
 * the job document after inserting it: the projector is its one writer (FerretDB's updates are
 * not atomic against a concurrent writer of the same document). A job no agent has started gets its terminal CANCELLED
 * event here; a started one gets it from its agent, with partial metrics. Both use the one
 * terminal message id, so only the first reaches the app. Cancelling twice answers the same.
 *
 * The cancel first claims the job's outcome (the job-outcomes bucket): a job whose agent, the
 * dataset service or the scheduler claimed `completed` or `failed` first (its projection may
 * not show it yet) answers 409; once `cancelled` holds, an agent finishing the job reports it
 * cancelled rather than completed.
 */
export async function cancelJob(deps: CancelDeps, jobId: string): Promise<CancelResult> {
  const record = await deps.store.get(jobId);
  if (!record) return { kind: "not_found" };
  const body: JobCancelled = { job_id: jobId, status: "cancelled", message: "Job cancelled successfully" };
  if (record.status === "completed" || record.status === "failed") return { kind: "finished", status: record.status };
  if (record.status === "cancelled") return { kind: "cancelled", body };

  const outcome = await deps.bus.claimOutcome(jobId, "cancelled");
  if (outcome !== "cancelled") return { kind: "finished", status: outcome };
  const at = deps.now();
  if (!(await deps.bus.isCancellationRequested(jobId))) {
    await deps.bus.requestCancellation({ job_id: jobId, requested_at: at.toISOString() });
  }
  // Published again by a repeated DELETE (the terminal message id makes that a no-op): the one
  // before may have claimed and requested, then met NATS away and answered 503 before this.
  if (record.status !== "training") {
    await deps.bus.publishJobEvent(
      cancelledEvent(jobId, at, {
        details: `The job was cancelled while ${record.phase ?? record.status}; no training had started.`,
        phase: failurePhaseOf(record),
        epoch: null,
        partial_metrics: null,
      }),
      terminalEventId(jobId),
    );
  }
  return { kind: "cancelled", body };
}

function failurePhaseOf(record: JobRecord): FailurePhase {
  switch (record.phase) {
    case "downloading":
      return "dataset_download";
    case "preparing":
      return "preparing";
    case "training":
      return "training";
    case "validating":
      return "validating";
    case null:
      return "cancelled";
  }
}
