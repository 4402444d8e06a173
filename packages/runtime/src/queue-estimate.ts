/** What a start estimate is made from: the jobs holding slots, the slots, and a typical job's length. */
export interface QueueCapacity {
  /** Remaining seconds of each job holding a slot, as its last epoch reported; null when not known yet. */
  runningEtas: ReadonlyArray<number | null>;
  /** Training slots of the live agents. */
  slots: number;
  /** Expected length of a job that has not started (see `typicalJobSeconds`). */
  jobSeconds: number;
}

/**
 * Seconds from now until each of the first `waiting` queued jobs may start, by queue position
 * (index 0 is position 1). Each slot is free at some time: after the job running on it ends (its
 * ETA; a job with no ETA yet counts as a whole job), and each waiting job takes the slot that
 * frees first, for one typical job length. With no live agent the jobs are assumed to wait for
 * one slot, rather than forever. The result never decreases from one position to the next.
 */
export function estimateStarts(capacity: QueueCapacity, waiting: number): number[] {
  const freeAt = new SlotHeap(Math.max(1, capacity.slots));
  const remaining = capacity.runningEtas
    .map((eta) => (eta === null || !Number.isFinite(eta) ? capacity.jobSeconds : Math.max(0, eta)))
    .sort((a, b) => a - b);
  for (const seconds of remaining) freeAt.occupy(seconds);
  const starts: number[] = [];
  for (let i = 0; i < waiting; i++) starts.push(freeAt.occupy(capacity.jobSeconds));
  return starts;
}

/** Seconds from now until a job with `ahead` waiting jobs before it may start. */
export function estimateStartIn(capacity: QueueCapacity, ahead: number): number {
  return estimateStarts(capacity, ahead + 1)[ahead] ?? 0;
}

/**
 * The length to expect of a job that has not started: the mean of recently completed jobs'
 * durations, or `fallback` (ESTIMATED_JOB_SECONDS) before any job has completed.
 */
export function typicalJobSeconds(recentDurations: ReadonlyArray<number | null>, fallback: number): number {
  const valid = recentDurations.filter((d): d is number => d !== null && Number.isFinite(d) && d > 0);
  if (valid.length === 0) return fallback;
  return valid.reduce((sum, d) => sum + d, 0) / valid.length;
}

/** When each slot is next free, as a binary min-heap: a large cluster costs log(slots) per job. */
class SlotHeap {
  readonly #free: number[];

  constructor(slots: number) {
    this.#free = new Array<number>(slots).fill(0);
  }

  /** Gives the slot that frees first to a job of `seconds`; returns when that job starts. */
  occupy(seconds: number): number {
    const heap = this.#free;
    const start = heap[0] ?? 0;
    heap[0] = start + seconds;
    // sift the grown root down to its place
    for (let i = 0; ;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < heap.length && (heap[left] ?? 0) < (heap[smallest] ?? 0)) smallest = left;
      if (right < heap.length && (heap[right] ?? 0) < (heap[smallest] ?? 0)) smallest = right;
      if (smallest === i) return start;
      [heap[i], heap[smallest]] = [heap[smallest] ?? 0, heap[i] ?? 0];
      i = smallest;
    }
  }
}
