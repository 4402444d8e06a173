import type { NatsConnection } from "@nats-io/transport-node";
import { Kvm, type KV } from "@nats-io/kv";
import { Objm, type ObjectStore } from "@nats-io/obj";
import { kvOptions, objectStoreOptions, type KV_BUCKETS } from "./topology.js";

export type { KV, ObjectStore };

/**
 * Binds to a KV bucket, creating it with one replica when missing (a development server; in a
 * deployment the provisioner has created it and a service user may not).
 */
export async function openKv(nc: NatsConnection, name: (typeof KV_BUCKETS)[number]): Promise<KV> {
  return new Kvm(nc).create(name, kvOptions(name));
}

/** Binds to an object store, creating it with one replica when missing (as `openKv`). */
export async function openObjectStore(nc: NatsConnection, name: string): Promise<ObjectStore> {
  return new Objm(nc).create(name, objectStoreOptions(name));
}

/** Whether a KV write failed because the key's revision was not the expected one (a lost race). */
export function isKvConflict(err: unknown): boolean {
  return /wrong last sequence|key exists/i.test(String(err));
}
