import type { Bus } from "./adapters/bus.js";
import type { JobStore } from "./adapters/job-store.js";
import type { MetricFamily } from "./prometheus.js";

/** Upper bounds of the training duration histogram: 1 minute to 1 day. */
export const DURATION_BUCKETS_S = [60, 300, 600, 1800, 3600, 7200, 14400, 28800, 43200, 86400];

/** Finished statuses: their counts only grow, so they are exposed as counters. */
const FINISHED = ["completed", "failed", "cancelled"] as const;

export interface MetricsDeps {
  store: Pick<JobStore, "countByStatus" | "completedDurations">;
  bus: Pick<Bus, "liveAgents">;
}

/**
 * The PRD 7.6/10.2 metrics, read from the real state at scrape time: job counts and durations
 * from the MongoDB projection (the same for every gateway replica), GPU readings from the
 * agents' latest heartbeats. A reading an agent could not take is left out rather than zero.
 */
export async function collectMetrics(deps: MetricsDeps): Promise<MetricFamily[]> {
  const [counts, durations, agents] = await Promise.all([
    deps.store.countByStatus(),
    deps.store.completedDurations(),
    deps.bus.liveAgents(),
  ]);
  const gpus = agents.flatMap((agent) => agent.gpus.map((gpu) => ({ agent: agent.agent_id, ...gpu })));
  const gpuGauge = (name: string, help: string, read: (gpu: (typeof gpus)[number]) => number | null): MetricFamily => ({
    name,
    help,
    type: "gauge",
    samples: gpus.flatMap((gpu) => {
      const value = read(gpu);
      return value === null ? [] : [{ labels: { device: gpu.device, agent: gpu.agent }, value }];
    }),
  });
  return [
    {
      name: "training_jobs_total",
      help: "Training jobs that finished, by final status.",
      type: "counter",
      samples: FINISHED.map((status) => ({ labels: { status }, value: counts[status] })),
    },
    {
      name: "training_duration_seconds",
      help: "Training time of completed jobs.",
      type: "histogram",
      buckets: DURATION_BUCKETS_S,
      observations: durations,
    },
    gpuGauge("gpu_utilization_percent", "GPU utilization percentage.", (gpu) => gpu.utilization_percent),
    gpuGauge("gpu_memory_used_bytes", "GPU memory in use, in bytes.", (gpu) => gpu.memory_used_bytes),
    gpuGauge("gpu_temperature_celsius", "GPU temperature in degrees Celsius.", (gpu) => gpu.temperature_c),
    {
      name: "active_training_jobs",
      help: "Jobs training now.",
      type: "gauge",
      samples: [{ value: counts.training }],
    },
    { name: "queue_size", help: "Jobs waiting to train.", type: "gauge", samples: [{ value: counts.queued }] },
  ];
}
