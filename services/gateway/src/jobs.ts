import { newJobRecord, type TrainAccepted, type TrainRequest } from "@trainyard/contracts";
import { estimateStartIn, typicalJobSeconds } from "@trainyard/runtime";
import type { Bus } from "./adapters/bus.js";
import type { JobStore } from "./adapters/job-store.js";
import { clusterCapacity } from "./cluster.js";
import { RECENT_JOBS } from "./queue-reader.js";

export type AcceptResult =
  { kind: "accepted"; body: TrainAccepted } | { kind: "exists" } | { kind: "queue_full"; queued: number };

export interface AcceptDeps {
  store: JobStore;
  bus: Bus;
  maxQueuedJobs: number;
  /** Job length assumed before any job has completed (ESTIMATED_JOB_SECONDS). */
  typicalJobSeconds: number;
  now(): Date;
}

/**
 * Accepts a validated training request: the job document first (its unique id is the PRD's
 * 409, across replicas and restarts), then the callback target, then `train.requested`. If a
 * later step fails the earlier ones are undone, so a 5xx never leaves a job that will not run.
 * The queue is read before anything is written, so the start estimate cannot fail a job that
 * is already queued.
 */
export async function acceptJob(deps: AcceptDeps, request: TrainRequest): Promise<AcceptResult> {
  const [queued, runningEtas, durations, agents] = await Promise.all([
    deps.store.count("queued"),
    deps.store.runningEtas(),
    deps.store.recentDurations(RECENT_JOBS),
    deps.bus.liveAgents(),
  ]);
  if (queued >= deps.maxQueuedJobs) return { kind: "queue_full", queued };
  const now = deps.now();
  const record = newJobRecord({
    job_id: request.job_id,
    model_config: request.model_config,
    resources: request.resources,
    now,
  });
  let inserted = false;
  try {
    inserted = await deps.store.insert(record);
    if (!inserted) return { kind: "exists" };
    await deps.bus.saveCallbackTarget(request.job_id, { url: request.callback_url, secret: request.callback_secret });
    // queued first: if train.requested then fails, a stray queued event names a job that never was
    await deps.bus.publishJobEvent(
      {
        type: "queued",
        job_id: request.job_id,
        at: now.toISOString(),
        model_name: request.model_config.name,
        total_epochs: request.model_config.epochs,
      },
      `${request.job_id}:queued`,
    );
    await deps.bus.publishTrainRequested({
      job_id: request.job_id,
      requested_at: now.toISOString(),
      model_config: request.model_config,
      dataset: request.dataset,
      ...(request.resources ? { resources: request.resources } : {}),
    });
  } catch (err) {
    if (inserted) await deps.bus.deleteCallbackTarget(request.job_id).catch(() => undefined);
    // A timed-out insert may still land later, so it is undone too; removing by creation time
    // only ever deletes our own document. Undoing a document we know exists must not fail quietly.
    await deps.store.remove(request.job_id, now).catch((undoErr: unknown) => {
      if (inserted) throw undoErr;
    });
    throw err;
  }
  // every queued job counts as ahead, those still preparing their dataset too
  const startIn = estimateStartIn(
    {
      runningEtas,
      slots: clusterCapacity(agents).slots,
      jobSeconds: typicalJobSeconds(durations, deps.typicalJobSeconds),
    },
    queued,
  );
  const start = new Date(now.getTime() + Math.round(startIn * 1000));
  return {
    kind: "accepted",
    body: {
      job_id: request.job_id,
      status: "queued",
      message: "Training job queued successfully",
      estimated_start_time: start.toISOString(),
    },
  };
}
