import type { QueueEntry } from "@trainyard/contracts";
import { splitQueue } from "./job-queue.js";
import { estimateStarts, type QueueCapacity } from "./queue-estimate.js";

/** The scheduler's queue as a reader sees it at one moment. */
export interface QueueSnapshot {
  /** Jobs waiting for a slot, in the order the scheduler takes them (priority, then arrival). */
  waiting: readonly string[];
  /** Jobs placed on a slot whose terminal event has not arrived yet. */
  placed: ReadonlySet<string>;
}

/** Orders the entries of the queue bucket as the scheduler does (`queueOrder`). */
export function queueSnapshot(entries: Iterable<QueueEntry>): QueueSnapshot {
  const { waiting, placed } = splitQueue(entries, (e) => e);
  return { waiting: waiting.map((e) => e.job.job_id), placed: new Set(placed.map((e) => e.job.job_id)) };
}

/**
 * Where a job that has not started stands. `waiting`: in the scheduler's queue, 1-based
 * `position`. `assigned`: a slot is assigned and the agent is starting it. `not_queued`: not in
 * the queue yet (its dataset is still being downloaded and validated), so it is taken to join
 * the queue now, behind every waiting job.
 */
export type QueuePlace =
  | { state: "waiting"; position: number; startsIn: number }
  | { state: "assigned"; position: null; startsIn: number }
  | { state: "not_queued"; position: null; startsIn: number };

/** Every waiting job's place and start estimate (seconds from now), computed once. */
export interface QueuePlaces {
  /** The waiting jobs in queue order, each with its estimate. */
  waiting: ReadonlyArray<{ jobId: string; startsIn: number }>;
  /** When a job that joins the queue now may start. */
  nextStartsIn: number;
  of(jobId: string): QueuePlace;
}

/**
 * Positions and start estimates for the jobs of a queue snapshot. Every placed job holds a slot:
 * those the projection does not show training yet (no ETA in `capacity.runningEtas`) count as
 * whole jobs, so a just-assigned job is not mistaken for a free slot.
 */
export function queuePlaces(snapshot: QueueSnapshot, capacity: QueueCapacity): QueuePlaces {
  const starting = Math.max(0, snapshot.placed.size - capacity.runningEtas.length);
  const runningEtas = [...capacity.runningEtas, ...new Array<null>(starting).fill(null)];
  const starts = estimateStarts({ ...capacity, runningEtas }, snapshot.waiting.length + 1);
  const nextStartsIn = starts[snapshot.waiting.length] ?? 0;
  const waiting = snapshot.waiting.map((jobId, i) => ({ jobId, startsIn: starts[i] ?? 0 }));
  const index = new Map(snapshot.waiting.map((jobId, i) => [jobId, i]));
  return {
    waiting,
    nextStartsIn,
    of(jobId) {
      const i = index.get(jobId);
      if (i !== undefined) return { state: "waiting", position: i + 1, startsIn: starts[i] ?? 0 };
      if (snapshot.placed.has(jobId)) return { state: "assigned", position: null, startsIn: 0 };
      return { state: "not_queued", position: null, startsIn: nextStartsIn };
    },
  };
}
