import type { AgentView } from "../../src/agents.js";
import type { Health, JobSummary, Overview, ServerMessage, StatusCounts } from "../../src/job-wire.js";
import { estimateStarts } from "../../src/queue-estimate.js";

const FINISHED = new Set<JobSummary["status"]>(["completed", "failed", "cancelled"]);
/** Finished jobs listed (PRD 5.1 "recent"); older ones are dropped from memory. */
const RECENT_FINISHED = 20;

const emptyCounts = (): StatusCounts => ({ pending: 0, queued: 0, training: 0, completed: 0, failed: 0, cancelled: 0 });
const byCreation = (a: JobSummary, b: JobSummary) => a.created_at.localeCompare(b.created_at);
const byFinish = (a: JobSummary, b: JobSummary) => (b.finished_at ?? "").localeCompare(a.finished_at ?? "");

export interface QueuedJob {
  job: JobSummary;
  position: number;
  /** Seconds from the overview's time until it may start. */
  startsIn: number;
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
  typicalJobSeconds = $state(1800);
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
  /** Oldest first: the order in which the scheduler takes them. */
  queued = $derived.by((): QueuedJob[] => {
    const waiting = this.all.filter((j) => j.status === "queued" || j.status === "pending").sort(byCreation);
    const starts = estimateStarts({
      runningEtas: this.active.map((j) => j.eta_seconds),
      waiting: waiting.length,
      slots: this.agents.filter((a) => a.online && !a.draining).reduce((n, a) => n + a.slots.length, 0),
      jobSeconds: this.typicalJobSeconds,
    });
    return waiting.map((job, i) => ({ job, position: i + 1, startsIn: starts[i] ?? 0 }));
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
    this.typicalJobSeconds = overview.typical_job_seconds;
    this.loaded = true;
  }

  #forgetOldFinished(): void {
    const keep = new Set(this.finished.map((j) => j.job_id));
    for (const job of this.all) if (FINISHED.has(job.status) && !keep.has(job.job_id)) delete this.#jobs[job.job_id];
  }
}
