/** What the queue looks like when a job is accepted. */
export interface QueueSnapshot {
  /** Remaining seconds of each training job, as its last epoch reported; null when not known yet. */
  runningEtas: ReadonlyArray<number | null>;
  /** Jobs waiting ahead of the new one (every queued job: FIFO). */
  queuedAhead: number;
  /** Training slots of the live agents. */
  slots: number;
  /** Expected length of a job that has not started (see `typicalJobSeconds`). */
  jobSeconds: number;
}

/**
 * When a newly queued job may start. Each slot is free at some time: after the running job on it
 * ends (its ETA; a job with no ETA yet counts as a whole job), and each job ahead of ours takes
 * the slot that frees first for one typical job length. Ours starts when a slot frees next. With
 * no live agent the jobs are assumed to wait for one slot, rather than forever.
 */
export function estimateStartTime(now: Date, queue: QueueSnapshot): Date {
  const freeAt: number[] = new Array<number>(Math.max(1, queue.slots)).fill(0);
  const occupy = (seconds: number) => {
    let earliest = 0;
    for (let i = 1; i < freeAt.length; i++) if ((freeAt[i] ?? 0) < (freeAt[earliest] ?? 0)) earliest = i;
    freeAt[earliest] = (freeAt[earliest] ?? 0) + seconds;
  };
  const remaining = queue.runningEtas
    .map((eta) => (eta === null || !Number.isFinite(eta) ? queue.jobSeconds : Math.max(0, eta)))
    .sort((a, b) => a - b);
  for (const seconds of remaining) occupy(seconds);
  for (let i = 0; i < queue.queuedAhead; i++) occupy(queue.jobSeconds);
  const startIn = Math.min(...freeAt);
  return new Date(now.getTime() + Math.round(startIn * 1000));
}

/**
 * The length to expect of a job that has not started: the mean of recently completed jobs'
 * durations, or `fallback` (ESTIMATED_JOB_SECONDS) before any job has completed.
 */
export function typicalJobSeconds(recentDurations: readonly number[], fallback: number): number {
  const valid = recentDurations.filter((d) => Number.isFinite(d) && d > 0);
  if (valid.length === 0) return fallback;
  return valid.reduce((sum, d) => sum + d, 0) / valid.length;
}
