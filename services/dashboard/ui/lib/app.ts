import { Clock } from "./clock.svelte.js";
import { LiveConnection } from "./dashboard-client.js";
import { JobDetailState } from "./job-detail.svelte.js";
import { OverviewState } from "./overview.svelte.js";
import { Router, type Route } from "./router.svelte.js";
import { SessionState } from "./session.svelte.js";
import { ConnectionStatus } from "./connection.svelte.js";

// Wiring: the state objects the components render, fed by the live connection and the router.

export const session = new SessionState();
export const overview = new OverviewState();
export const detail = new JobDetailState();
export const connection = new ConnectionStatus();
export const clock = new Clock();
export const router = new Router(showRoute);
let live: LiveConnection | null = null;

function showRoute(route: Route): void {
  const messages = route.page === "job" ? detail.open(route.jobId) : detail.close();
  for (const message of messages) live?.send(message);
}

/** Connects once the session allows it (after the login form, when one is needed). */
export function startLive(): void {
  if (live) return;
  live = new LiveConnection({
    message(message) {
      overview.receive(message);
      detail.receive(message);
    },
    connection(state) {
      connection.state = state;
    },
    resume: () => detail.resume(),
  });
}

export async function start(): Promise<void> {
  router.start();
  await session.load();
  await session.loginFromLink();
  if (session.ready) startLive();
}
