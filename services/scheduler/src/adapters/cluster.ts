import type { NatsConnection } from "@nats-io/transport-node";
import { AgentHeartbeat, Bucket, SlotLease } from "@trainyard/contracts";
import { AGENT_HEARTBEAT_TTL_MS, isKvConflict, mirrorKv, openKv, type KV } from "@trainyard/runtime";
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
  stop(): void;
}

/**
 * Opens the cluster view. With `mirror` (the scheduler service), agents and leases are kept in
 * memory by watches, so a scheduling round reads nothing over the network; an agent counts as
 * alive while its last heartbeat is younger than the bucket's TTL. Without it, every call reads
 * the buckets.
 */
export async function openCluster(nc: NatsConnection, opts: { mirror?: boolean } = {}): Promise<Cluster> {
  const agents = await openKv(nc, Bucket.agents);
  const leases = await openKv(nc, Bucket.assignments);
  const parseBeat = (raw: unknown) => {
    const beat = AgentHeartbeat.safeParse(raw);
    return beat.success ? beat.data : null;
  };
  const parseLease = (raw: unknown) => {
    const lease = SlotLease.safeParse(raw);
    return lease.success ? lease.data : null;
  };
  // slot keys by job, kept with the lease mirror: a release deletes its keys without a scan
  const slotsOfJob = new Map<string, Set<string>>();
  const agentMirror = opts.mirror ? await mirrorKv(agents, parseBeat) : null;
  const leaseMirror = opts.mirror
    ? await mirrorKv(leases, parseLease, (key, before, after) => {
        const previous = before && slotsOfJob.get(before.value.job_id);
        previous?.delete(key);
        if (before && previous?.size === 0) slotsOfJob.delete(before.value.job_id);
        if (after) slotsOfJob.set(after.value.job_id, (slotsOfJob.get(after.value.job_id) ?? new Set()).add(key));
      })
    : null;
  await Promise.all([agentMirror?.loaded, leaseMirror?.loaded]);
  const deleteLease = async (key: string) => {
    const known = leaseMirror?.get(key)?.revision;
    await leases.delete(key);
    if (known !== undefined) leaseMirror?.noteWrite(key, null, known);
  };
  const readLeases = async () => {
    const out = new Map<string, SlotLease>();
    const all = leaseMirror
      ? leaseMirror.entries().map(([key, { value }]) => [key, value] as const)
      : (await readAll(leases)).map(([key, raw]) => [key, parseLease(raw)] as const);
    for (const [key, lease] of all) if (lease) out.set(key, lease);
    return out;
  };
  return {
    async agents() {
      if (agentMirror) {
        const now = Date.now();
        return agentMirror
          .entries()
          .map(([, { value }]) => value)
          .filter((beat) => now - Date.parse(beat.seen_at) < AGENT_HEARTBEAT_TTL_MS);
      }
      const out: AgentHeartbeat[] = [];
      for (const [, raw] of await readAll(agents)) {
        const beat = parseBeat(raw);
        if (beat) out.push(beat);
      }
      return out;
    },
    leases: readLeases,
    async claim(lease) {
      const key = slotKey(lease.agent_id, lease.slot_index);
      try {
        const revision = await leases.create(key, JSON.stringify(lease));
        leaseMirror?.noteWrite(key, lease, revision);
        return true;
      } catch (err) {
        if (isKvConflict(err)) return false;
        throw err;
      }
    },
    async releaseSlot(agentId, slotIndex) {
      await deleteLease(slotKey(agentId, slotIndex));
    },
    async release(jobId) {
      const keys = leaseMirror
        ? [...(slotsOfJob.get(jobId) ?? [])]
        : [...(await readLeases())].filter(([, lease]) => lease.job_id === jobId).map(([key]) => key);
      await Promise.all(keys.map(deleteLease));
      return keys.length > 0;
    },
    stop() {
      agentMirror?.stop();
      leaseMirror?.stop();
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
