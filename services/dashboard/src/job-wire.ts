import type { JobRecord, JobStatus } from "@trainyard/contracts";

/**
 * What the browser receives (over /api and /ws): JSON with ISO dates and the id as `job_id`.
 * Fields are copied one by one, so a field added to the document is not published by accident.
 */
export interface JobSummary {
  job_id: string;
  model_name: string;
  status: JobRecord["status"];
  phase: JobRecord["phase"];
  progress: number;
  current_epoch: number | null;
  total_epochs: number;
  metrics: JobRecord["metrics"];
  eta_seconds: number | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  agent_id: string | null;
  slot: JobRecord["slot"];
  error: JobRecord["error"];
  /** Stream sequence of the last applied event: the browser drops anything older than it holds. */
  last_event_seq: number;
}

/** A summary plus what the job page shows: configuration, dataset, metric history, results. */
export interface JobDetail extends JobSummary {
  model_config: JobRecord["model_config"];
  resources: JobRecord["resources"];
  dataset_info: JobRecord["dataset_info"];
  history: JobRecord["history"];
  final_metrics: JobRecord["final_metrics"];
  model_object: string | null;
}

/** Number of jobs in each status, over the whole projection (not just the listed jobs). */
export type StatusCounts = Record<JobStatus, number>;

/** Messages on the /ws feed: one snapshot on connect, then every changed job in order. */
export type LiveMessage =
  | { type: "snapshot"; jobs: JobSummary[]; counts: StatusCounts }
  | { type: "job"; job: JobDetail; counts: StatusCounts };

/** GET /api/jobs answer. */
export interface JobList {
  jobs: JobSummary[];
  counts: StatusCounts;
}

export function toSummary(record: JobRecord): JobSummary {
  return {
    job_id: record._id,
    model_name: record.model_name,
    status: record.status,
    phase: record.phase,
    progress: record.progress,
    current_epoch: record.current_epoch,
    total_epochs: record.total_epochs,
    metrics: record.metrics,
    eta_seconds: record.eta_seconds,
    created_at: record.created_at.toISOString(),
    started_at: record.started_at?.toISOString() ?? null,
    finished_at: record.finished_at?.toISOString() ?? null,
    agent_id: record.agent_id,
    slot: record.slot,
    error: record.error,
    last_event_seq: record.last_event_seq,
  };
}

export function toDetail(record: JobRecord): JobDetail {
  return {
    ...toSummary(record),
    model_config: record.model_config,
    resources: record.resources,
    dataset_info: record.dataset_info,
    history: record.history,
    final_metrics: record.final_metrics,
    model_object: record.model_object,
  };
}
