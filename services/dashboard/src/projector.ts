import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import {
  Consumer,
  JOB_EVENTS_STREAM,
  JobEvent,
  newJobRecord,
  Subject,
  TRAIN_STREAM,
  TrainRequested,
} from "@trainyard/contracts";
import {
  ack,
  ensureConsumer,
  retryLater,
  startConsumer,
  type Delivery,
  type Logger,
  type Outcome,
} from "@trainyard/runtime";
import type { JobStore } from "./adapters/job-store.js";
import type { EpochRecord, ProjectedJob } from "./projected-job.js";
import { apply, withChanges } from "./projection.js";

/** Durable consumer of `train.requested` that (re)creates job documents, e.g. when rebuilding. */
export const REQUESTS_CONSUMER = Consumer.dashboardRequests;

/** Who hears about each projected change: the live feed and the progress streams. */
export interface ProjectionListener {
  /** `statusChanged`: the counts by status may have changed. */
  jobChanged(record: ProjectedJob, statusChanged: boolean): Promise<void> | void;
  epochRecorded(point: EpochRecord): void;
}

export interface ProjectorDeps {
  store: JobStore;
  cache: JobCache;
  listeners: ProjectionListener[];
  log: Logger;
  /**
   * An event may arrive before its job's document exists: when the projection is rebuilt from
   * the streams, `train.requested` is read by another consumer. It is retried this many times,
   * then skipped (the gateway undid a job it could not queue).
   */
  missingJob: { attempts: number; delayMs: number };
}

export const DEFAULT_MISSING_JOB = { attempts: 40, delayMs: 250 };
/** Job documents kept in memory between events; each write still checks the stored one is unchanged. */
const CACHED_JOBS = 1_000;

/**
 * The projector's last known state of recently active jobs, so an event costs one read less.
 * Safe because every write is conditional on the stored status and sequence being these.
 */
export class JobCache {
  readonly #jobs = new Map<string, ProjectedJob>();

  get(jobId: string): ProjectedJob | undefined {
    const record = this.#jobs.get(jobId);
    if (record) {
      // most recently used last, so the oldest is evicted first
      this.#jobs.delete(jobId);
      this.#jobs.set(jobId, record);
    }
    return record;
  }

  set(record: ProjectedJob): void {
    this.#jobs.delete(record._id);
    this.#jobs.set(record._id, record);
    if (this.#jobs.size > CACHED_JOBS) this.#jobs.delete(this.#jobs.keys().next().value ?? "");
  }

  forget(jobId: string): void {
    this.#jobs.delete(jobId);
  }
}

/**
 * Applies one job event to the projection. A Mongo error throws, so the consumer retries the
 * same event with back-off; with one message in flight, later events wait behind it.
 */
export async function projectEvent(
  deps: ProjectorDeps,
  event: JobEvent,
  delivery: Pick<Delivery, "streamSequence" | "attempt">,
): Promise<Outcome> {
  const seq = delivery.streamSequence;
  // The gateway may cancel a job between our read and our write; then read and apply again.
  for (let attempt = 1; attempt <= 4; attempt++) {
    const outcome = await projectOnce(deps, event, seq);
    if (outcome === "missing") {
      if (delivery.attempt < deps.missingJob.attempts) {
        return retryLater(deps.missingJob.delayMs, "job document not there yet");
      }
      deps.log.error(
        { job_id: event.job_id, type: event.type, seq },
        "event for a job with no (valid) document; skipped",
      );
      return ack;
    }
    if (outcome !== "conflict") return ack;
  }
  throw new Error(`job ${event.job_id} kept changing while event ${seq} was applied`);
}

async function projectOnce(
  deps: ProjectorDeps,
  event: JobEvent,
  seq: number,
): Promise<"done" | "conflict" | "missing"> {
  const { cache, store } = deps;
  const record = cache.get(event.job_id) ?? (await store.get(event.job_id));
  if (!record) return "missing";
  const projected = apply(record, event, seq);
  if (!projected) {
    deps.log.debug({ job_id: event.job_id, type: event.type, seq }, "event already applied");
    return "done";
  }
  // The history row first: if we crash before the job's update, the redelivery rewrites both.
  if (projected.point) await store.recordEpoch(projected.point);
  const { changes } = projected;
  if (!(await store.update(event.job_id, changes, record))) {
    // changed since we read it (the gateway cancelled it, or the event was applied already)
    cache.forget(event.job_id);
    return "conflict";
  }
  const updated = withChanges(record, changes);
  cache.set(updated);
  // a new job (its queued event) changes the counts as much as a new status does
  const statusChanged = (changes.status !== undefined && changes.status !== record.status) || event.type === "queued";
  deps.log.info({ job_id: event.job_id, type: event.type, seq, status: updated.status }, "job projected");
  for (const listener of deps.listeners) {
    if (projected.point) listener.epochRecorded(projected.point);
    await listener.jobChanged(updated, statusChanged);
  }
  return "done";
}

/** Creates the document of a requested job unless the gateway already has (it always has, live). */
export async function projectRequest(
  deps: Pick<ProjectorDeps, "store" | "log">,
  request: TrainRequested,
): Promise<Outcome> {
  const created = await deps.store.insertIfMissing(
    newJobRecord({
      job_id: request.job_id,
      model_config: request.model_config,
      resources: request.resources,
      now: new Date(request.requested_at),
    }),
  );
  if (created) deps.log.info({ job_id: request.job_id }, "job document created from train.requested");
  return ack;
}

/**
 * Reads JOB_EVENTS in order with the `dashboard-projection` durable, and `train.requested` from
 * the TRAIN stream with `dashboard-requests`, until stopped.
 */
export async function startProjector(
  nats: { jsm: JetStreamManager; js: JetStreamClient },
  deps: ProjectorDeps,
): Promise<{ stop(): Promise<void> }> {
  await ensureConsumer(nats.jsm, {
    stream: TRAIN_STREAM,
    name: REQUESTS_CONSUMER,
    filterSubjects: [Subject.trainRequested],
    ackWaitMs: 30_000,
    maxAckPending: 100,
  });
  await ensureConsumer(nats.jsm, {
    stream: JOB_EVENTS_STREAM,
    name: Consumer.dashboard,
    filterSubjects: [Subject.jobEventWildcard],
    ackWaitMs: 30_000,
    // One event in flight keeps each job's events in publication order.
    maxAckPending: 1,
  });
  const requests = await startConsumer({
    js: nats.js,
    stream: TRAIN_STREAM,
    consumer: REQUESTS_CONSUMER,
    schema: TrainRequested,
    log: deps.log,
    handle: (request) => projectRequest(deps, request),
  });
  const events = await startConsumer({
    js: nats.js,
    stream: JOB_EVENTS_STREAM,
    consumer: Consumer.dashboard,
    schema: JobEvent,
    log: deps.log,
    handle: (event, delivery) => projectEvent(deps, event, delivery),
  });
  return {
    async stop() {
      await events.stop();
      await requests.stop();
    },
  };
}
