/**
 * When a newly queued job may start: the jobs ahead of it, spread over the live slots, each
 * taking the typical job length. With a free slot that is now.
 */
export function estimateStartTime(opts: {
  now: Date;
  queuedAhead: number;
  activeJobs: number;
  slots: number;
  typicalJobSeconds: number;
}): Date {
  const slots = Math.max(1, opts.slots);
  const waves = Math.floor((opts.queuedAhead + opts.activeJobs) / slots);
  return new Date(opts.now.getTime() + waves * opts.typicalJobSeconds * 1000);
}
