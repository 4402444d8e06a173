import type { JobRecord, JobView } from "@trainyard/contracts";

/** The PRD 7.2 view of a projected job. */
export function toJobView(record: JobRecord): JobView {
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
  };
}
