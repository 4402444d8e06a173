// The HEALTHCHECK of both Trainyard images (PRD 9.1: every 30 s, 10 s limit, 3 retries), for the
// service the container runs (TRAINYARD_SERVICE):
//   gateway    GET /health on GATEWAY_PORT: 200 while NATS and MongoDB answer ("healthy" or
//              "degraded" when no agent is live), 503 when either is down;
//   dashboard  GET /healthz on DASHBOARD_PORT: the same rule;
//   dataset, scheduler, notifier, trainer-agent serve no HTTP: with METRICS_PORT set they are
//              asked GET /metrics; without it, the check is that the service's node process is
//              alive. These workers exit on a fatal error (the restart policy replaces them) and
//              ride out a NATS outage by reconnecting, so "alive" is what can be checked from
//              outside until their metrics endpoint exists.
// Exit 0 healthy, 1 unhealthy; the reason goes to stdout, which `docker inspect` shows.
import { readdirSync, readFileSync } from "node:fs";

const service = process.env.TRAINYARD_SERVICE ?? "";
const endpoints = {
  gateway: { port: process.env.GATEWAY_PORT ?? "8080", path: "/health" },
  dashboard: { port: process.env.DASHBOARD_PORT ?? "8081", path: "/healthz" },
};
const endpoint =
  endpoints[service] ?? (process.env.METRICS_PORT ? { port: process.env.METRICS_PORT, path: "/metrics" } : undefined);

if (endpoint) {
  const url = `http://127.0.0.1:${endpoint.port}${endpoint.path}`;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(8000) });
    console.log(`${url}: ${res.status}`);
    process.exit(res.status === 200 ? 0 : 1);
  } catch (err) {
    console.log(`${url}: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  }
}

const main = `services/${service}/dist/main.js`;
const running = readdirSync("/proc").some((pid) => {
  if (!/^\d+$/.test(pid) || Number(pid) === process.pid) return false;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8")
      .split("\0")
      .some((arg) => arg.endsWith(main));
  } catch {
    return false; // the process ended while we looked
  }
});
console.log(running ? `${service}: running` : `${service}: no process runs ${main}`);
process.exit(running ? 0 : 1);
