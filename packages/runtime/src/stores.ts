import type { NatsConnection } from "@nats-io/transport-node";
import { Kvm, type KV } from "@nats-io/kv";
import { Objm, type ObjectStore } from "@nats-io/obj";
import { Bucket } from "@trainyard/contracts";

export type { KV, ObjectStore };

/** Agents re-put their heartbeat well within this; a silent agent's entry expires. */
export const AGENT_HEARTBEAT_TTL_MS = 30_000;
/** The scheduler leader renews its entry well within this; a dead leader's entry expires. */
export const SCHEDULER_LEADER_TTL_MS = 10_000;

/** Opens (creating when missing) a KV bucket with the settings its owner needs. */
export async function openKv(nc: NatsConnection, name: (typeof Bucket)[keyof typeof Bucket]): Promise<KV> {
  const ttl =
    name === Bucket.agents
      ? AGENT_HEARTBEAT_TTL_MS
      : name === Bucket.schedulerLeader
        ? SCHEDULER_LEADER_TTL_MS
        : undefined;
  return new Kvm(nc).create(name, { history: 1, ...(ttl ? { ttl } : {}) });
}

/** Opens (creating when missing) an object store bucket. */
export async function openObjectStore(nc: NatsConnection, name: string): Promise<ObjectStore> {
  return new Objm(nc).create(name, { storage: "file" } as never);
}

/** Whether a KV write failed because the key's revision was not the expected one (a lost race). */
export function isKvConflict(err: unknown): boolean {
  return /wrong last sequence|key exists/i.test(String(err));
}
