import type { JobEvent, JobEventOf, JobPhase, JobRecord, JobStatus } from "@trainyard/contracts";
import type { EpochRecord, ProjectedJob } from "./projected-job.js";

/**
 * The fields of a job document that one event changes, always with the event's stream sequence.
 * What the gateway set at insert time (id, creation time, model config, resources) never changes.
 */
export type JobChanges = Partial<
  Omit<ProjectedJob, "_id" | "created_at" | "model_config" | "resources" | "last_event_seq">
> & {
  last_event_seq: number;
};

/** What one event does to the projection: the job document's changes, and maybe one epoch point. */
export interface Projected {
  changes: JobChanges;
  /** The epoch's row of the metric history (collection `job_epochs`), keyed by job and epoch. */
  point: EpochRecord | null;
}

const FINISHED: ReadonlySet<JobStatus> = new Set<JobStatus>(["completed", "failed", "cancelled"]);
const PHASE_ORDER: Readonly<Record<JobPhase, number>> = { downloading: 1, preparing: 2, training: 3, validating: 4 };

/** True once a job has reached a terminal status. */
export function isFinished(status: JobStatus): boolean {
  return FINISHED.has(status);
}

/**
 * A job the gateway marked cancelled whose terminal event has not arrived yet: its trainer is
 * stopping. Events keep being applied (so a replay of the stream, which knows nothing of the
 * gateway's mark, ends with the same document), but its status stays cancelled until the end.
 */
export function isStopping(record: Pick<JobRecord, "status" | "error">): boolean {
  return record.status === "cancelled" && record.error === null;
}

/**
 * What `event`, read at `streamSeq` from JOB_EVENTS, does to `record`; null when the record
 * already reflects that sequence (a redelivery). Invariants: progress, phase and current epoch
 * never go backwards; a finished job never returns to training; one history point per epoch.
 */
export function apply(record: ProjectedJob, event: JobEvent, streamSeq: number): Projected | null {
  if (streamSeq <= record.last_event_seq) return null;
  const seq = { last_event_seq: streamSeq };
  // Only the sequence advances: a late progress event must not reopen a finished job.
  if (isFinished(record.status) && !isStopping(record)) return { changes: seq, point: null };
  const projected = applyToOpen(record, event, streamSeq);
  if (isStopping(record) && event.type !== "completed" && event.type !== "failed") {
    const { status: _ignored, ...rest } = projected.changes;
    return { ...projected, changes: rest };
  }
  return projected;
}

function applyToOpen(record: ProjectedJob, event: JobEvent, streamSeq: number): Projected {
  const seq = { last_event_seq: streamSeq };
  const startedAt = (at: string) => (record.started_at ? {} : { started_at: new Date(at) });
  const only = (changes: JobChanges): Projected => ({ changes, point: null });

  switch (event.type) {
    case "queued":
      // the gateway (or, in a replay, train.requested) made the document; this only tells browsers
      return only(seq);

    case "assigned":
      return only({ ...seq, agent_id: event.agent_id, slot: event.slot });

    case "phase":
      return only({
        ...seq,
        phase: later(record.phase, event.phase),
        progress: forward(record.progress, event.percentage),
        ...(event.total_epochs > 0 ? { total_epochs: event.total_epochs } : {}),
        ...(event.dataset_info ? { dataset_info: event.dataset_info } : {}),
        // Downloading happens before a slot is assigned; from preparing on, the job is training.
        ...(event.phase === "downloading" ? {} : { status: "training" as const, ...startedAt(event.at) }),
      });

    case "epoch": {
      // A late or repeated epoch still fills its history row, but the job's "current" stays put.
      const latest = record.current_epoch === null || event.epoch >= record.current_epoch;
      return {
        changes: {
          ...seq,
          ...startedAt(event.at),
          status: "training",
          phase: later(record.phase, "training"),
          total_epochs: event.total_epochs,
          progress: forward(record.progress, event.percentage),
          ...(latest ? { current_epoch: event.epoch, eta_seconds: event.eta_seconds, metrics: event.metrics } : {}),
        },
        point: epochRecord(event, streamSeq),
      };
    }

    case "completed":
      return only({
        ...seq,
        started_at: record.started_at ?? new Date(event.started_at),
        status: "completed",
        phase: null,
        progress: 100,
        eta_seconds: 0,
        final_metrics: event.final_metrics,
        model_object: event.model.object_name,
        artifacts: event.artifacts,
        dataset_info: event.dataset_info,
        finished_at: new Date(event.at),
        duration_seconds: event.duration_seconds,
      });

    case "failed":
      return only({
        ...seq,
        // A cancellation reaches the projection as a failure with code CANCELLED (PRD 4.3, 7.3).
        status: event.error.code === "CANCELLED" ? "cancelled" : "failed",
        phase: null,
        eta_seconds: null,
        error: event.error,
        finished_at: new Date(event.at),
      });

    default:
      return unreachable(event);
  }
}

/** The history row of one epoch event. */
export function epochRecord(event: JobEventOf<"epoch">, streamSeq: number): EpochRecord {
  const current = event.metrics.current;
  return {
    _id: `${event.job_id}:${event.epoch}`,
    job_id: event.job_id,
    epoch: event.epoch,
    seq: streamSeq,
    at: new Date(event.at),
    box_loss: current?.box_loss ?? null,
    cls_loss: current?.cls_loss ?? null,
    dfl_loss: current?.dfl_loss ?? null,
    precision: current?.precision ?? null,
    recall: current?.recall ?? null,
    mAP50: current?.mAP50 ?? null,
    "mAP50-95": current?.["mAP50-95"] ?? null,
  };
}

/** `record` with `changes` applied, as the store holds it after the update. */
export function withChanges(record: ProjectedJob, changes: JobChanges): ProjectedJob {
  return { ...record, ...changes };
}

function forward(current: number, reported: number): number {
  return Math.min(100, Math.max(current, reported));
}

function later(current: JobPhase | null, reported: JobPhase): JobPhase {
  return current !== null && PHASE_ORDER[current] > PHASE_ORDER[reported] ? current : reported;
}

function unreachable(event: never): never {
  throw new Error(`unhandled job event ${JSON.stringify(event)}`);
}
