import type { AgentHeartbeat } from "@trainyard/contracts";

/** What the live agents offer: training slots, and whether any slot is a GPU. */
export function clusterCapacity(agents: readonly AgentHeartbeat[]): { slots: number; gpuAvailable: boolean } {
  return {
    slots: agents.reduce((sum, agent) => sum + agent.slots.length, 0),
    gpuAvailable: agents.some((agent) => agent.slots.some((slot) => slot.device.startsWith("cuda"))),
  };
}
