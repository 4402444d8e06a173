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

/** The document the gateway inserts when it accepts a job; the projector owns it afterwards. */
export function initialRecord(req: {
  job_id: string;
  model_config: JobRecord["model_config"];
  resources?: JobRecord["resources"] | undefined;
  now: Date;
}): JobRecord {
  return {
    _id: req.job_id,
    model_name: req.model_config.name,
    status: "queued",
    phase: null,
    progress: 0,
    current_epoch: null,
    total_epochs: req.model_config.epochs,
    metrics: null,
    eta_seconds: null,
    created_at: req.now,
    started_at: null,
    finished_at: null,
    model_config: req.model_config,
    resources: req.resources ?? null,
    dataset_info: null,
    agent_id: null,
    slot: null,
    history: [],
    final_metrics: null,
    model_object: null,
    error: null,
    last_event_seq: 0,
  };
}
