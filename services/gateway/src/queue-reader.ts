import type { JobRecord } from "@trainyard/contracts";
import { queuePlaces, typicalJobSeconds, type Logger, type QueuePlace, type QueueSnapshot } from "@trainyard/runtime";
import type { Bus } from "./adapters/bus.js";
import type { JobStore } from "./adapters/job-store.js";
import { clusterCapacity } from "./cluster.js";

/** Completed jobs whose durations make the typical job length. */
export const RECENT_JOBS = 20;

/** The scheduler's queue as this replica last saw it (`watchQueue`). */
export interface QueueSource {
  snapshot(): QueueSnapshot;
}

/** What a queued job's view adds (the optional fields of `JobView` and `JobSummary`). */
export interface QueueFields {
  queue_position: number | null;
  estimated_start_time: string;
}

export interface QueueReaderDeps {
  store: Pick<JobStore, "runningEtas" | "recentDurations">;
  bus: Pick<Bus, "liveAgents">;
  queue: QueueSource;
  /** Job length assumed before any job has completed (ESTIMATED_JOB_SECONDS). */
  typicalJobSeconds: number;
  log: Logger;
  now(): Date;
}

const NOT_STARTED: ReadonlySet<JobRecord["status"]> = new Set(["pending", "queued"]);

/**
 * The queue fields of each job among `jobs` that has not started, keyed by job id: its place in
 * the scheduler's queue and its estimated start, from the running jobs' ETAs (MongoDB), the live
 * agents' slots (KV `agents`) and the typical job length. Nothing is read when no job needs it.
 * A job view must not fail for want of an estimate: when a read fails the map is empty (logged).
 */
export async function readQueueFields(
  deps: QueueReaderDeps,
  jobs: ReadonlyArray<Pick<JobRecord, "_id" | "status">>,
): Promise<Map<string, QueueFields>> {
  const waiting = jobs.filter((job) => NOT_STARTED.has(job.status));
  if (waiting.length === 0) return new Map();
  let runningEtas: Array<number | null>, durations: number[], agents: Awaited<ReturnType<Bus["liveAgents"]>>;
  try {
    [runningEtas, durations, agents] = await Promise.all([
      deps.store.runningEtas(),
      deps.store.recentDurations(RECENT_JOBS),
      deps.bus.liveAgents(),
    ]);
  } catch (err) {
    deps.log.warn({ err, job_ids: waiting.map((j) => j._id) }, "queue state unreadable: no queue position this time");
    return new Map();
  }
  const places = queuePlaces(deps.queue.snapshot(), {
    runningEtas,
    slots: clusterCapacity(agents).slots,
    jobSeconds: typicalJobSeconds(durations, deps.typicalJobSeconds),
  });
  const now = deps.now();
  return new Map(waiting.map((job) => [job._id, queueFields(places.of(job._id), now)]));
}

/** A place as the REST view shows it: the position, and the start as a time. */
export function queueFields(place: QueuePlace, now: Date): QueueFields {
  return {
    queue_position: place.position,
    estimated_start_time: new Date(now.getTime() + Math.round(place.startsIn * 1000)).toISOString(),
  };
}
