import type { JobRecord, JobSummary, JobView } from "@trainyard/contracts";
import type { JobSummaryRecord } from "./adapters/job-store.js";
import type { QueueFields } from "./queue-reader.js";

/** The PRD 7.2 view of a projected job; a queued job's place in the queue when known. */
export function toJobView(record: JobRecord, queue?: QueueFields): JobView {
  return {
    job_id: record._id,
    status: record.status,
    progress: record.progress,
    current_epoch: record.current_epoch,
    total_epochs: record.total_epochs,
    metrics: record.metrics,
    created_at: record.created_at.toISOString(),
    started_at: record.started_at?.toISOString() ?? null,
    eta_seconds: record.eta_seconds,
    ...queue,
  };
}

/** The PRD 7.4 list entry of a projected job; a queued job's place in the queue when known. */
export function toJobSummary(record: JobSummaryRecord, queue?: QueueFields): JobSummary {
  return {
    job_id: record._id,
    model_name: record.model_name,
    status: record.status,
    progress: record.progress,
    created_at: record.created_at.toISOString(),
    ...queue,
  };
}
