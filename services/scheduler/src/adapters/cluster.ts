import type { NatsConnection } from "@nats-io/transport-node";
import { AgentHeartbeat, Bucket, SlotLease } from "@trainyard/contracts";
import { openKv, type KV } from "@trainyard/runtime";
import { slotKey } from "../slot-picker.js";

/** The scheduler's view of the cluster: live agents (their heartbeats) and slot leases. */
export interface Cluster {
  agents(): Promise<AgentHeartbeat[]>;
  leases(): Promise<Map<string, SlotLease>>;
  /** Atomically claims a slot; false when someone holds it already. */
  claim(lease: SlotLease): Promise<boolean>;
  /** Deletes every lease of the job; true when there was one. */
  release(jobId: string): Promise<boolean>;
  /** Frees one slot (a claim that lost its race for the queue entry). */
  releaseSlot(agentId: string, slotIndex: number): Promise<void>;
}

export async function openCluster(nc: NatsConnection): Promise<Cluster> {
  const agents = await openKv(nc, Bucket.agents);
  const leases = await openKv(nc, Bucket.assignments);
  const readLeases = async () => {
    const out = new Map<string, SlotLease>();
    for (const [key, value] of await readAll(leases)) {
      const lease = SlotLease.safeParse(value);
      if (lease.success) out.set(key, lease.data);
    }
    return out;
  };
  return {
    async agents() {
      const out: AgentHeartbeat[] = [];
      for (const [, value] of await readAll(agents)) {
        const beat = AgentHeartbeat.safeParse(value);
        if (beat.success) out.push(beat.data);
      }
      return out;
    },
    leases: readLeases,
    async claim(lease) {
      try {
        await leases.create(slotKey(lease.agent_id, lease.slot_index), JSON.stringify(lease));
        return true;
      } catch (err) {
        if (/wrong last sequence|key exists/i.test(String(err))) return false;
        throw err;
      }
    },
    async releaseSlot(agentId, slotIndex) {
      await leases.delete(slotKey(agentId, slotIndex));
    },
    async release(jobId) {
      let released = false;
      for (const [key, lease] of await readLeases()) {
        if (lease.job_id === jobId) {
          await leases.delete(key);
          released = true;
        }
      }
      return released;
    },
  };
}

async function readAll(kv: KV): Promise<Array<[string, unknown]>> {
  const out: Array<[string, unknown]> = [];
  for await (const key of await kv.keys()) {
    const entry = await kv.get(key);
    if (entry && entry.operation === "PUT") out.push([key, entry.json()]);
  }
  return out;
}
