import type { AgentHeartbeat, GpuReading, Slot } from "@trainyard/contracts";

/** PRD 10.3 alert thresholds: a GPU hotter than this, or with more memory in use than this, is flagged. */
export const GPU_TEMPERATURE_LIMIT_C = 85;
export const GPU_MEMORY_LIMIT_PERCENT = 95;

export type GpuWarning = "temperature" | "memory";

export interface GpuView extends GpuReading {
  memory_percent: number | null;
  warnings: GpuWarning[];
}

/** A training host as the overview shows it. */
export interface AgentView {
  agent_id: string;
  host: string;
  /** False once its heartbeat is older than the agents bucket keeps it, or it deregistered. */
  online: boolean;
  draining: boolean;
  started_at: string;
  seen_at: string;
  slots: Slot[];
  gpus: GpuView[];
}

/** The warnings one reading raises (PRD 10.3). */
export function gpuWarnings(gpu: GpuReading): GpuWarning[] {
  const warnings: GpuWarning[] = [];
  if (gpu.temperature_c !== null && gpu.temperature_c > GPU_TEMPERATURE_LIMIT_C) warnings.push("temperature");
  const percent = memoryPercent(gpu);
  if (percent !== null && percent > GPU_MEMORY_LIMIT_PERCENT) warnings.push("memory");
  return warnings;
}

function memoryPercent(gpu: GpuReading): number | null {
  if (gpu.memory_used_bytes === null || !gpu.memory_total_bytes) return null;
  return (100 * gpu.memory_used_bytes) / gpu.memory_total_bytes;
}

/**
 * The view of an agent's last heartbeat at `now`: online while the heartbeat is younger than
 * `ttlMs` (the agents bucket's expiry) and the agent did not deregister.
 */
export function agentView(beat: AgentHeartbeat, opts: { now: number; ttlMs: number; gone: boolean }): AgentView {
  const age = opts.now - Date.parse(beat.seen_at);
  return {
    agent_id: beat.agent_id,
    host: beat.host,
    online: !opts.gone && age <= opts.ttlMs,
    // `in`: older agents send no draining flag
    draining: "draining" in beat && beat.draining === true,
    started_at: beat.started_at,
    seen_at: beat.seen_at,
    slots: beat.slots,
    gpus: beat.gpus.map((gpu) => ({ ...gpu, memory_percent: memoryPercent(gpu), warnings: gpuWarnings(gpu) })),
  };
}
