import type { DependencyCheck, Health } from "@trainyard/contracts";
import type { Bus } from "./adapters/bus.js";
import type { JobStore } from "./adapters/job-store.js";
import { clusterCapacity } from "./cluster.js";

export interface HealthDeps {
  store: Pick<JobStore, "ping" | "count">;
  bus: Pick<Bus, "ping" | "liveAgents">;
  /** Each check's limit: a hung dependency counts as down, it does not hang the answer. */
  timeoutMs: number;
  version: string;
  now(): Date;
}

type Probe<T> = { ok: true; value: T; latencyMs: number } | { ok: false; error: string };

/**
 * GET /health (PRD 7.5): NATS (a round trip), MongoDB (a ping), the live agents and the job
 * counts, all at once and each within `timeoutMs`. NATS or MongoDB down: `unhealthy`, 503, so a
 * load balancer stops sending traffic. No live agent: `degraded`, 200, as the API still accepts
 * jobs (they wait). Errors are reported as short fixed phrases, never a driver message, which
 * may carry a server URL with credentials.
 */
export async function checkHealth(deps: HealthDeps): Promise<{ httpStatus: 200 | 503; body: Health }> {
  const probe = <T>(work: () => Promise<T>) => probeWithin(deps.timeoutMs, work);
  const [nats, mongodb, agents, active, queued] = await Promise.all([
    probe(() => deps.bus.ping()),
    probe(() => deps.store.ping()),
    probe(() => deps.bus.liveAgents()),
    probe(() => deps.store.count("training")),
    probe(() => deps.store.count("queued")),
  ]);
  const live = agents.ok ? agents.value : [];
  const capacity = clusterCapacity(live);
  const down = !nats.ok || !mongodb.ok;
  const body: Health = {
    status: down ? "unhealthy" : live.length === 0 ? "degraded" : "healthy",
    timestamp: deps.now().toISOString(),
    version: deps.version,
    gpu_available: capacity.gpuAvailable,
    active_jobs: active.ok ? active.value : null,
    queue_size: queued.ok ? queued.value : null,
    checks: {
      nats: asCheck(nats),
      mongodb: asCheck(mongodb),
      agents: { status: live.length > 0 ? "up" : "down", live_agents: live.length, slots: capacity.slots },
    },
  };
  return { httpStatus: down ? 503 : 200, body };
}

function asCheck(probe: Probe<unknown>): DependencyCheck {
  return probe.ok
    ? { status: "up", latency_ms: probe.latencyMs }
    : { status: "down", latency_ms: null, error: probe.error };
}

async function probeWithin<T>(timeoutMs: number, work: () => Promise<T>): Promise<Probe<T>> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<Probe<T>>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, error: `no answer within ${timeoutMs} ms` }), timeoutMs);
  });
  const attempt = work().then(
    (value): Probe<T> => ({ ok: true, value, latencyMs: Math.round((performance.now() - started) * 10) / 10 }),
    (): Probe<T> => ({ ok: false, error: "request failed" }),
  );
  try {
    return await Promise.race([attempt, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
