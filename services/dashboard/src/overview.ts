import type { JobStore } from "./adapters/job-store.js";
import type { AgentView } from "./agents.js";
import { toSummary, type Health, type Overview, type QueueView } from "./job-wire.js";

/** Finished jobs the overview lists (PRD 5.1 "recent"), newest first. */
export const RECENT_FINISHED = 20;

export interface OverviewDeps {
  store: JobStore;
  agents(): AgentView[];
  health(): Health;
  queue(): QueueView;
}

/** Reads the overview: open jobs, recent finished ones, counts; the queue, agents and health from memory. */
export async function loadOverview(deps: OverviewDeps): Promise<Overview> {
  const [jobs, counts] = await Promise.all([deps.store.overviewJobs(RECENT_FINISHED), deps.store.countByStatus()]);
  return {
    counts,
    jobs: jobs.map(toSummary),
    queue: deps.queue(),
    agents: deps.agents(),
    health: deps.health(),
  };
}
