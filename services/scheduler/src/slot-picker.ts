import type { AgentHeartbeat, Slot, SlotLease } from "@trainyard/contracts";

export interface SlotChoice {
  agentId: string;
  slot: Slot;
}

export interface SlotNeeds {
  /** `resources.device` of the request: `cpu` keeps the job off GPUs; `cuda:N` prefers GPU N. */
  device?: string | undefined;
  /** `resources.max_memory_gb`: a GPU slot must have this much free memory, when it reports any. */
  memoryGb?: number | undefined;
}

const GIB = 1024 ** 3;

/** The key of a slot in the assignments bucket; claiming it with a create is atomic. */
export const slotKey = (agentId: string, slotIndex: number): string => `${agentId}.${slotIndex}`;

/**
 * Picks a free slot for a job. GPU slots come first (a CPU slot is the fallback for hosts
 * without a GPU, and the only choice for jobs that ask for `cpu`); a GPU whose reported free
 * memory is below the job's `max_memory_gb` is skipped; draining agents take nothing. Among
 * equals the requested GPU index wins, then the agent with the most free slots (spreading load
 * across hosts). The PRD's own example asks for `cuda:0` on every job, so an index is a
 * preference, not a pin.
 */
export function pickSlot(
  agents: AgentHeartbeat[],
  leases: Map<string, SlotLease>,
  needs: SlotNeeds = {},
): SlotChoice | null {
  const cpuOnly = needs.device === "cpu";
  let best: Candidate | null = null;
  for (const agent of agents) {
    if (agent.draining) continue;
    const free = agent.slots.filter((slot) => !leases.has(slotKey(agent.agent_id, slot.index)));
    for (const slot of free) {
      const gpu = slot.device.startsWith("cuda");
      if (cpuOnly && gpu) continue;
      if (gpu && !memoryFits(agent, slot, needs.memoryGb)) continue;
      const candidate = {
        agentId: agent.agent_id,
        slot,
        free: free.length,
        gpu,
        preferred: slot.device === needs.device,
      };
      if (!best || better(candidate, best)) best = candidate;
    }
  }
  return best ? { agentId: best.agentId, slot: best.slot } : null;
}

interface Candidate extends SlotChoice {
  free: number;
  gpu: boolean;
  preferred: boolean;
}

function better(a: Candidate, b: Candidate): boolean {
  const order =
    Number(b.gpu) - Number(a.gpu) ||
    Number(b.preferred) - Number(a.preferred) ||
    b.free - a.free ||
    a.agentId.localeCompare(b.agentId) ||
    a.slot.index - b.slot.index;
  return order < 0;
}

function memoryFits(agent: AgentHeartbeat, slot: Slot, memoryGb: number | undefined): boolean {
  if (memoryGb === undefined) return true;
  const reading = agent.gpus.find((g) => g.device === slot.device);
  if (!reading || reading.memory_total_bytes === null || reading.memory_used_bytes === null) return true;
  return reading.memory_total_bytes - reading.memory_used_bytes >= memoryGb * GIB;
}
