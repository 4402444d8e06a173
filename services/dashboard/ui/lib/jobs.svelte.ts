import type { JobDetail, JobSummary, LiveMessage, StatusCounts } from "../../src/job-wire.js";
import type { ConnectionState } from "./live-client.js";

const FINISHED = new Set<JobSummary["status"]>(["completed", "failed", "cancelled"]);

const emptyCounts = (): StatusCounts => ({ pending: 0, queued: 0, training: 0, completed: 0, failed: 0, cancelled: 0 });
const newestFirst = (a: JobSummary, b: JobSummary) => b.created_at.localeCompare(a.created_at);

/** What the overview shows: the newest jobs and counts, kept current by the live feed. */
export class JobsState {
  #byId = $state<Record<string, JobSummary>>({});
  counts = $state<StatusCounts>(emptyCounts());
  connection = $state<ConnectionState>("connecting");
  /** True once the first snapshot has arrived. */
  loaded = $state(false);

  all = $derived(Object.values(this.#byId).sort(newestFirst));
  active = $derived(this.all.filter((j) => j.status === "training"));
  /** Oldest first: the order in which the scheduler takes them. */
  queued = $derived(this.all.filter((j) => j.status === "queued" || j.status === "pending").reverse());
  finished = $derived(this.all.filter((j) => FINISHED.has(j.status)));

  receive(message: LiveMessage): void {
    this.counts = message.counts;
    if (message.type === "snapshot") {
      this.#byId = Object.fromEntries(message.jobs.map((j) => [j.job_id, j]));
      this.loaded = true;
    } else if (isNewer(message.job, this.#byId[message.job.job_id])) {
      this.#byId[message.job.job_id] = message.job;
    }
  }
}

/** The job page's job, with history and configuration. */
export class JobDetailState {
  jobId = $state<string | null>(null);
  job = $state<JobDetail | null>(null);
  /** "missing" when the dashboard does not know the id; a message when loading failed. */
  problem = $state<string | null>(null);

  open(jobId: string): void {
    if (this.jobId === jobId) return;
    this.jobId = jobId;
    this.job = null;
    this.problem = null;
  }

  close(): void {
    this.jobId = null;
    this.job = null;
    this.problem = null;
  }

  /** A job from the API or the live feed; older states than the one shown are dropped. */
  receive(job: JobDetail): void {
    if (job.job_id === this.jobId && isNewer(job, this.job ?? undefined)) {
      this.job = job;
      this.problem = null;
    }
  }

  failed(jobId: string, problem: string): void {
    if (jobId === this.jobId && !this.job) this.problem = problem;
  }
}

/** The live feed and an API read can race; the event sequence orders them. */
function isNewer(next: JobSummary, current: JobSummary | undefined): boolean {
  return !current || next.last_event_seq >= current.last_event_seq;
}
