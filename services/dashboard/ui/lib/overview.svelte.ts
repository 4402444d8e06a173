import type { AgentView } from "../../src/agents.js";
import type { Health, JobSummary, Overview, QueueView, ServerMessage, StatusCounts } from "../../src/job-wire.js";

const FINISHED = new Set<JobSummary["status"]>(["completed", "failed", "cancelled"]);
const NOT_STARTED = new Set<JobSummary["status"]>(["pending", "queued"]);
/** Finished jobs listed (PRD 5.1 "recent"); older ones are dropped from memory. */
const RECENT_FINISHED = 20;

const emptyCounts = (): StatusCounts => ({ pending: 0, queued: 0, training: 0, completed: 0, failed: 0, cancelled: 0 });
const byCreation = (a: JobSummary, b: JobSummary) => a.created_at.localeCompare(b.created_at);
const byFinish = (a: JobSummary, b: JobSummary) => (b.finished_at ?? "").localeCompare(a.finished_at ?? "");

/** A job waiting in the scheduler's queue. */
export interface QueuedJob {
  job: JobSummary;
  /** 1-based place in the scheduler's queue. */
  position: number;
  /** Expected start, in milliseconds since the epoch. */
  startsAt: number;
}

/** A queued job that is not in the scheduler's queue: preparing its dataset, or being started on its slot. */
export interface PreparingJob {
  job: JobSummary;
  /** True once a slot is assigned: its agent is starting it. */
  assigned: boolean;
  /** Expected start, in milliseconds since the epoch (behind the queue while the dataset is prepared). */
  startsAt: number;
}

export interface HostSlot {
  index: number;
  device: string;
  name: string;
  job: JobSummary | null;
}

/** What the overview shows, kept current by the live feed. */
export class OverviewState {
  #jobs = $state<Record<string, JobSummary>>({});
  counts = $state<StatusCounts>(emptyCounts());
  agents = $state<AgentView[]>([]);
  health = $state<Health>({ mongo: true, nats: true });
  queue = $state<QueueView>({ waiting: [], assigned: [], next_start_time: new Date().toISOString() });
  /** True once the first overview has arrived. */
  loaded = $state(false);

  all = $derived(Object.values(this.#jobs));
  active = $derived(this.all.filter((j) => j.status === "training").sort(byCreation));
  finished = $derived(
    this.all
      .filter((j) => FINISHED.has(j.status))
      .sort(byFinish)
      .slice(0, RECENT_FINISHED),
  );
  /** The scheduler's queue, in the order it takes the jobs, with the server's start estimates. */
  queued = $derived.by((): QueuedJob[] =>
    this.queue.waiting.flatMap(({ job_id, estimated_start_time }, i) => {
      const job = this.#jobs[job_id];
      return job && NOT_STARTED.has(job.status)
        ? [{ job, position: i + 1, startsAt: Date.parse(estimated_start_time) }]
        : [];
    }),
  );
  /** Queued jobs not (or no longer) waiting in the scheduler's queue, oldest first. */
  preparing = $derived.by((): PreparingJob[] => {
    const waiting = new Set(this.queue.waiting.map((w) => w.job_id));
    const assigned = new Set(this.queue.assigned);
    const behindQueue = Date.parse(this.queue.next_start_time);
    return this.all
      .filter((j) => NOT_STARTED.has(j.status) && !waiting.has(j.job_id))
      .sort(byCreation)
      .map((job) => {
        const starting = assigned.has(job.job_id);
        return { job, assigned: starting, startsAt: starting ? 0 : behindQueue };
      });
  });
  /** Each agent's slots with the job training on it. */
  slots = $derived.by(() => {
    const onSlot = new Map(this.active.map((j) => [`${j.agent_id}/${j.slot?.index}`, j]));
    return new Map(
      this.agents.map((a): [string, HostSlot[]] => [
        a.agent_id,
        a.slots.map((s) => ({ ...s, job: onSlot.get(`${a.agent_id}/${s.index}`) ?? null })),
      ]),
    );
  });

  receive(message: ServerMessage): void {
    switch (message.type) {
      case "overview":
        this.#apply(message.overview);
        return;
      case "job": {
        if (message.counts) this.counts = message.counts;
        const known = this.#jobs[message.job.job_id];
        if (!known || message.job.last_event_seq >= known.last_event_seq) this.#jobs[message.job.job_id] = message.job;
        if (FINISHED.has(message.job.status)) this.#forgetOldFinished();
        return;
      }
      case "queue":
        this.queue = message.queue;
        return;
      case "agents":
        this.agents = message.agents;
        return;
      case "health":
        this.health = message.health;
        return;
      default:
        return;
    }
  }

  #apply(overview: Overview): void {
    this.#jobs = Object.fromEntries(overview.jobs.map((j) => [j.job_id, j]));
    this.counts = overview.counts;
    this.agents = overview.agents;
    this.health = overview.health;
    this.queue = overview.queue;
    this.loaded = true;
  }

  #forgetOldFinished(): void {
    const keep = new Set(this.finished.map((j) => j.job_id));
    for (const job of this.all) if (FINISHED.has(job.status) && !keep.has(job.job_id)) delete this.#jobs[job.job_id];
  }
}
