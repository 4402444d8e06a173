import type { EpochPoint, JobEvent, JobRecord, JobStatus } from "@trainyard/contracts";

/**
 * The fields of a job document that one event changes, always with the event's stream sequence.
 * What the gateway set at insert time (id, creation time, model config, resources) never changes.
 */
export type JobChanges = Partial<
  Omit<JobRecord, "_id" | "created_at" | "model_config" | "resources" | "last_event_seq">
> & {
  last_event_seq: number;
};

const FINISHED: ReadonlySet<JobStatus> = new Set<JobStatus>(["completed", "failed", "cancelled"]);

/** True once a job has reached a terminal status. */
export function isFinished(status: JobStatus): boolean {
  return FINISHED.has(status);
}

/**
 * The changes `event`, read at `streamSeq` from JOB_EVENTS, makes to `record`; null when the
 * record already reflects that sequence (a redelivery). Invariants: progress never goes
 * backwards, a finished job never returns to training, history holds one point per epoch.
 */
export function apply(record: JobRecord, event: JobEvent, streamSeq: number): JobChanges | null {
  if (streamSeq <= record.last_event_seq) return null;
  const seq = { last_event_seq: streamSeq };
  // The gateway marks a cancelled job at once; the agent's CANCELLED failure then adds its details.
  if (record.status === "cancelled" && event.type === "failed" && record.error === null) {
    return { ...seq, phase: null, eta_seconds: null, error: event.error, finished_at: new Date(event.at) };
  }
  // Only the sequence advances: a late progress event must not reopen a finished job.
  if (isFinished(record.status)) return seq;
  const startedAt = (at: string) => (record.started_at ? {} : { started_at: new Date(at) });

  switch (event.type) {
    case "queued":
      // the gateway inserted the document already; the event only tells live browsers
      return seq;

    case "assigned":
      return { ...seq, agent_id: event.agent_id, slot: event.slot };

    case "phase":
      return {
        ...seq,
        phase: event.phase,
        progress: forward(record.progress, event.percentage),
        ...(event.total_epochs > 0 ? { total_epochs: event.total_epochs } : {}),
        ...(event.dataset_info ? { dataset_info: event.dataset_info } : {}),
        // Downloading happens before a slot is assigned; from preparing on, the job is training.
        ...(event.phase === "downloading" ? {} : { status: "training" as const, ...startedAt(event.at) }),
      };

    case "epoch": {
      const current = event.metrics.current;
      const point: EpochPoint = {
        epoch: event.epoch,
        mAP50: current?.mAP50 ?? null,
        "mAP50-95": current?.["mAP50-95"] ?? null,
        box_loss: current?.box_loss ?? null,
        cls_loss: current?.cls_loss ?? null,
      };
      return {
        ...seq,
        ...startedAt(event.at),
        status: "training",
        phase: "training",
        current_epoch: event.epoch,
        total_epochs: event.total_epochs,
        progress: forward(record.progress, event.percentage),
        eta_seconds: event.eta_seconds,
        metrics: event.metrics,
        history: withPoint(record.history, point),
      };
    }

    case "completed":
      return {
        ...seq,
        started_at: record.started_at ?? new Date(event.started_at),
        status: "completed",
        phase: null,
        progress: 100,
        eta_seconds: 0,
        final_metrics: event.final_metrics,
        model_object: event.model.object_name,
        dataset_info: event.dataset_info,
        finished_at: new Date(event.at),
        duration_seconds: event.duration_seconds,
      };

    case "failed":
      return {
        ...seq,
        // A cancellation reaches the projection as a failure with code CANCELLED (PRD 4.3, 7.3).
        status: event.error.code === "CANCELLED" ? "cancelled" : "failed",
        phase: null,
        eta_seconds: null,
        error: event.error,
        finished_at: new Date(event.at),
      };

    default:
      return unreachable(event);
  }
}

/** `record` with `changes` applied, as the store holds it after the update. */
export function withChanges(record: JobRecord, changes: JobChanges): JobRecord {
  return { ...record, ...changes };
}

function forward(current: number, reported: number): number {
  return Math.min(100, Math.max(current, reported));
}

/** A repeated epoch (a restarted run) replaces its earlier point. */
function withPoint(history: EpochPoint[], point: EpochPoint): EpochPoint[] {
  return [...history.filter((p) => p.epoch !== point.epoch), point].sort((a, b) => a.epoch - b.epoch);
}

function unreachable(event: never): never {
  throw new Error(`unhandled job event ${JSON.stringify(event)}`);
}
