import type { CallbackDelivery, JobRecord, JobStatus } from "@trainyard/contracts";
import type { AgentView } from "./agents.js";
import type { EpochRecord, JobSummaryDoc, ProjectedJob } from "./projected-job.js";

// What the browser receives over /api and /ws: JSON with ISO dates and the id as `job_id`.
// Fields are copied one by one, so a field added to a document is not published by accident.

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
  duration_seconds: number | null;
  agent_id: string | null;
  slot: JobRecord["slot"];
  error: JobRecord["error"];
  /** Stream sequence of the last applied event: the browser drops anything older than it holds. */
  last_event_seq: number;
}

/** Which result files a completed job has; the browser fetches them through /api/jobs/:id/files/:kind. */
export type FileKind = "model" | "logs" | "results_csv" | "confusion_matrix" | "pr_curve" | "f1_curve";
export const FILE_KINDS: readonly FileKind[] = [
  "model",
  "logs",
  "results_csv",
  "confusion_matrix",
  "pr_curve",
  "f1_curve",
];

/** A summary plus what the job page shows: configuration, dataset, results. */
export interface JobDetail extends JobSummary {
  model_config: JobRecord["model_config"];
  resources: JobRecord["resources"];
  dataset_info: JobRecord["dataset_info"];
  final_metrics: JobRecord["final_metrics"];
  /** The result files this job has. */
  files: FileKind[];
}

/** One epoch of the metric history; `seq` orders two versions of the same epoch. */
export interface EpochPoint {
  epoch: number;
  seq: number;
  box_loss: number | null;
  cls_loss: number | null;
  dfl_loss: number | null;
  precision: number | null;
  recall: number | null;
  mAP50: number | null;
  "mAP50-95": number | null;
}

/** One callback of the delivery log (written by the notifier). */
export interface DeliveryView {
  id: string;
  type: CallbackDelivery["type"];
  status: CallbackDelivery["status"];
  attempts: Array<{
    attempt: number;
    at: string;
    status_code: number | null;
    latency_ms: number | null;
    error: string | null;
  }>;
  /** Why it stopped or waits where it is (superseded, 410, redelivery); null otherwise. */
  reason: string | null;
  redelivered_at: string | null;
  created_at: string;
  updated_at: string;
  next_attempt_at: string | null;
  /** Changes with every write of the notifier. */
  revision: number;
}

/** Number of jobs in each status, over the whole projection (not just the listed jobs). */
export type StatusCounts = Record<JobStatus, number>;

export interface Health {
  mongo: boolean;
  nats: boolean;
}

/**
 * The scheduler's queue as the overview shows it: read from KV `queue` and estimated as the
 * gateway's `queue_position` and `estimated_start_time` are.
 */
export interface QueueView {
  /** Jobs waiting for a slot in the scheduler's order (position = index + 1), each with its expected start. */
  waiting: Array<{ job_id: string; estimated_start_time: string }>;
  /** Jobs placed on a slot, until they finish; one the overview still shows queued is being started. */
  assigned: string[];
  /** Expected start of a job still preparing its dataset (not in the queue yet): behind every waiting job. */
  next_start_time: string;
}

/** The overview page (PRD 5.1): every open job, the latest finished ones, the queue, agents and GPUs. */
export interface Overview {
  counts: StatusCounts;
  jobs: JobSummary[];
  queue: QueueView;
  agents: AgentView[];
  health: Health;
}

/** Messages the server sends on /ws. */
export type ServerMessage =
  /** On connect and after every reconnect: the whole overview. */
  | { type: "overview"; overview: Overview }
  /** A job changed; `counts` only when its status changed. */
  | { type: "job"; job: JobSummary; counts?: StatusCounts }
  /** The queue or its estimates changed. */
  | { type: "queue"; queue: QueueView }
  | { type: "agents"; agents: AgentView[] }
  | { type: "health"; health: Health }
  /**
   * Answer to `subscribe`: the job and its history rows written after `since_seq` (all when 0),
   * then `job_detail`, `epoch` and `deliveries` messages for it until `unsubscribe`.
   */
  | {
      type: "job_snapshot";
      job: JobDetail;
      since_seq: number;
      points: EpochPoint[];
      deliveries: DeliveryView[];
    }
  | { type: "job_missing"; job_id: string }
  | { type: "job_detail"; job: JobDetail }
  | { type: "epoch"; job_id: string; point: EpochPoint }
  | { type: "deliveries"; job_id: string; deliveries: DeliveryView[] };

/** Messages a browser sends on /ws. */
export type ClientMessage =
  { type: "subscribe"; job_id: string; since_seq?: number } | { type: "unsubscribe"; job_id: string };

/** GET /api/jobs answer. */
export interface JobList {
  jobs: JobSummary[];
  counts: StatusCounts;
}

/** GET /api/session answer: whether a login is needed, and what this operator may do. */
export interface SessionInfo {
  auth_required: boolean;
  authenticated: boolean;
  /** Cancel goes through the gateway, which must be configured (GATEWAY_URL, GATEWAY_API_TOKEN). */
  can_cancel: boolean;
  /** Downloads are signed gateway links (DOWNLOAD_URL_SECRET, PUBLIC_BASE_URL). */
  can_download: boolean;
  /** "View in app" link with `{job_id}`, or null when not configured. */
  app_url_template: string | null;
}

export function toSummary(record: JobSummaryDoc): JobSummary {
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
    duration_seconds: record.duration_seconds,
    agent_id: record.agent_id,
    slot: record.slot,
    error: record.error,
    last_event_seq: record.last_event_seq,
  };
}

export function toDetail(record: ProjectedJob): JobDetail {
  return {
    ...toSummary(record),
    model_config: record.model_config,
    resources: record.resources,
    dataset_info: record.dataset_info,
    final_metrics: record.final_metrics,
    files: filesOf(record),
  };
}

/** The result files of a job: the model once completed, and each artifact the agent uploaded. */
export function filesOf(record: Pick<ProjectedJob, "status" | "model_object" | "artifacts">): FileKind[] {
  const files: FileKind[] = [];
  if (record.status === "completed" && record.model_object) files.push("model");
  const a = record.artifacts;
  if (a?.training_logs) files.push("logs");
  if (a?.results_csv) files.push("results_csv");
  if (a?.confusion_matrix) files.push("confusion_matrix");
  if (a?.pr_curve) files.push("pr_curve");
  if (a?.f1_curve) files.push("f1_curve");
  return files;
}

export function toPoint(row: EpochRecord): EpochPoint {
  return {
    epoch: row.epoch,
    seq: row.seq,
    box_loss: row.box_loss,
    cls_loss: row.cls_loss,
    dfl_loss: row.dfl_loss,
    precision: row.precision,
    recall: row.recall,
    mAP50: row.mAP50,
    "mAP50-95": row["mAP50-95"],
  };
}

export function toDeliveryView(d: CallbackDelivery): DeliveryView {
  return {
    id: d._id,
    type: d.type,
    status: d.status,
    attempts: d.attempts.map((a) => ({
      attempt: a.attempt,
      at: a.at.toISOString(),
      status_code: a.status_code,
      latency_ms: a.latency_ms,
      error: a.error,
    })),
    reason: d.reason,
    redelivered_at: d.redelivered_at?.toISOString() ?? null,
    created_at: d.created_at.toISOString(),
    updated_at: d.updated_at.toISOString(),
    next_attempt_at: d.next_attempt_at?.toISOString() ?? null,
    revision: d.revision,
  };
}
