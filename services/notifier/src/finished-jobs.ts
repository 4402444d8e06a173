/**
 * Jobs whose terminal callback (completed or failed) has been handled, newest kept. Bounded:
 * a job's late events arrive soon after its terminal one, so old entries can be forgotten.
 */
export class FinishedJobs {
  private readonly jobs = new Set<string>();

  constructor(private readonly capacity = 10_000) {}

  has(jobId: string): boolean {
    return this.jobs.has(jobId);
  }

  add(jobId: string): void {
    if (this.jobs.has(jobId)) return;
    this.jobs.add(jobId);
    if (this.jobs.size > this.capacity) {
      // a Set iterates in insertion order: the first is the oldest
      const oldest = this.jobs.values().next();
      if (!oldest.done) this.jobs.delete(oldest.value);
    }
  }
}
