/** What the overview knows about the queue. */
export interface QueueState {
  /** Remaining seconds of each training job, as its last epoch reported; null when not known yet. */
  runningEtas: ReadonlyArray<number | null>;
  /** Waiting jobs, in the order the scheduler takes them. */
  waiting: number;
  /** Training slots of the online agents. */
  slots: number;
  /** Expected length of a job that has not started. */
  jobSeconds: number;
}

/**
 * Seconds from now until each waiting job may start, by queue position (the gateway's estimate
 * of PRD 7.1, for every position at once). Each slot frees after its running job's ETA (a job
 * without one counts as a whole job); each waiting job takes the slot that frees first for one
 * typical job length. With no online agent the jobs are assumed to wait for one slot.
 */
export function estimateStarts(queue: QueueState): number[] {
  const freeAt: number[] = new Array<number>(Math.max(1, queue.slots)).fill(0);
  const earliest = () => {
    let best = 0;
    for (let i = 1; i < freeAt.length; i++) if ((freeAt[i] ?? 0) < (freeAt[best] ?? 0)) best = i;
    return best;
  };
  const remaining = queue.runningEtas
    .map((eta) => (eta === null || !Number.isFinite(eta) ? queue.jobSeconds : Math.max(0, eta)))
    .sort((a, b) => a - b);
  for (const seconds of remaining) {
    const slot = earliest();
    freeAt[slot] = (freeAt[slot] ?? 0) + seconds;
  }
  const starts: number[] = [];
  for (let i = 0; i < queue.waiting; i++) {
    const slot = earliest();
    starts.push(freeAt[slot] ?? 0);
    freeAt[slot] = (freeAt[slot] ?? 0) + queue.jobSeconds;
  }
  return starts;
}

/** The mean of recent completed jobs' durations, or `fallback` before any job has completed. */
export function typicalJobSeconds(recentDurations: ReadonlyArray<number | null>, fallback: number): number {
  const valid = recentDurations.filter((d): d is number => d !== null && Number.isFinite(d) && d > 0);
  if (valid.length === 0) return fallback;
  return valid.reduce((sum, d) => sum + d, 0) / valid.length;
}
