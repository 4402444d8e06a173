import type { JobStore } from "./adapters/job-store.js";
import type { AgentView } from "./agents.js";
import { toSummary, type Health, type Overview } from "./job-wire.js";
import { typicalJobSeconds } from "./queue-estimate.js";

/** Finished jobs the overview lists (PRD 5.1 "recent"), newest first. */
export const RECENT_FINISHED = 20;

export interface OverviewDeps {
  store: JobStore;
  agents(): AgentView[];
  health(): Health;
  /** ESTIMATED_JOB_SECONDS: the job length assumed before any job has completed. */
  fallbackJobSeconds: number;
}

/** Reads the overview: open jobs, recent finished ones, counts; agents and health from memory. */
export async function loadOverview(deps: OverviewDeps): Promise<Overview> {
  const [jobs, counts] = await Promise.all([deps.store.overviewJobs(RECENT_FINISHED), deps.store.countByStatus()]);
  const durations = jobs.filter((j) => j.status === "completed").map((j) => j.duration_seconds);
  return {
    counts,
    jobs: jobs.map(toSummary),
    agents: deps.agents(),
    health: deps.health(),
    typical_job_seconds: typicalJobSeconds(durations, deps.fallbackJobSeconds),
  };
}
