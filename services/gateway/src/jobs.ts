import { newJobRecord, type TrainAccepted, type TrainRequest } from "@trainyard/contracts";
import type { Bus } from "./adapters/bus.js";
import type { JobStore } from "./adapters/job-store.js";
import { estimateStartTime } from "./queue-estimate.js";

export type AcceptResult =
  { kind: "accepted"; body: TrainAccepted } | { kind: "exists" } | { kind: "queue_full"; queued: number };

export interface AcceptDeps {
  store: JobStore;
  bus: Bus;
  maxQueuedJobs: number;
  typicalJobSeconds: number;
  now(): Date;
}

/**
 * Accepts a validated training request: the job document first (its unique id is the PRD's
 * 409), then the callback target, then `train.requested`. If a later step fails the earlier
 * ones are undone, so a 5xx never leaves a job that will not run.
 */
export async function acceptJob(deps: AcceptDeps, request: TrainRequest): Promise<AcceptResult> {
  const queued = await deps.store.count("queued");
  if (queued >= deps.maxQueuedJobs) return { kind: "queue_full", queued };
  const now = deps.now();
  const created = await deps.store.insert(
    newJobRecord({ job_id: request.job_id, model_config: request.model_config, resources: request.resources, now }),
  );
  if (!created) return { kind: "exists" };
  try {
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
    await deps.store.remove(request.job_id);
    await deps.bus.deleteCallbackTarget(request.job_id).catch(() => undefined);
    throw err;
  }
  const [active, capacity] = await Promise.all([deps.store.count("training"), deps.bus.capacity()]);
  const start = estimateStartTime({
    now,
    queuedAhead: queued,
    activeJobs: active,
    slots: capacity.slots,
    typicalJobSeconds: deps.typicalJobSeconds,
  });
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
