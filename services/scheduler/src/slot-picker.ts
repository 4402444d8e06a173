import type { AgentHeartbeat, Slot, SlotLease } from "@trainyard/contracts";

export interface SlotChoice {
  agentId: string;
  slot: Slot;
}

/** The key of a slot in the assignments bucket; claiming it with a create is atomic. */
export const slotKey = (agentId: string, slotIndex: number): string => `${agentId}.${slotIndex}`;

/**
 * Picks a free slot for a job. GPU slots come first (a CPU slot is the fallback for hosts
 * without a GPU, and for jobs that ask for `cpu`); among equals the agent with the most free
 * slots wins, spreading load across hosts.
 */
export function pickSlot(
  agents: AgentHeartbeat[],
  leases: Map<string, SlotLease>,
  wantedDevice: string | undefined,
): SlotChoice | null {
  const cpuOnly = wantedDevice === "cpu";
  const candidates: Array<SlotChoice & { free: number; gpu: boolean }> = [];
  for (const agent of agents) {
    const free = agent.slots.filter((slot) => !leases.has(slotKey(agent.agent_id, slot.index)));
    for (const slot of free) {
      const gpu = slot.device.startsWith("cuda");
      if (cpuOnly && gpu) continue;
      candidates.push({ agentId: agent.agent_id, slot, free: free.length, gpu });
    }
  }
  candidates.sort(
    (a, b) =>
      Number(b.gpu) - Number(a.gpu) ||
      b.free - a.free ||
      a.agentId.localeCompare(b.agentId) ||
      a.slot.index - b.slot.index,
  );
  const best = candidates[0];
  return best ? { agentId: best.agentId, slot: best.slot } : null;
}
