import { Clock } from "./clock.svelte.js";
import { JobDetailState, JobsState } from "./jobs.svelte.js";
import { connectLive, fetchJob } from "./live-client.js";
import { Router, type Route } from "./router.svelte.js";

// Wiring: the state objects the components render, fed by the live client and the router.

export const jobs = new JobsState();
export const detail = new JobDetailState();
export const clock = new Clock();
export const router = new Router(showRoute);

function showRoute(route: Route): void {
  if (route.page === "job") {
    detail.open(route.jobId);
    void loadDetail(route.jobId);
  } else {
    detail.close();
  }
}

async function loadDetail(jobId: string): Promise<void> {
  try {
    const job = await fetchJob(jobId);
    if (job) detail.receive(job);
    else detail.failed(jobId, "missing");
  } catch (err) {
    detail.failed(jobId, err instanceof Error ? err.message : String(err));
  }
}

export function start(): void {
  connectLive({
    message(message) {
      jobs.receive(message);
      if (message.type === "job") detail.receive(message.job);
      // After a reconnect the page's job may have moved on while the feed was down.
      else if (detail.jobId) void loadDetail(detail.jobId);
    },
    connection(state) {
      jobs.connection = state;
    },
  });
  router.start();
}
