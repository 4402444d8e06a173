import type { NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { EXPIRING_KV_BUCKETS } from "./topology.js";
import { isKvConflict, openKv } from "./stores.js";

type ExpiringBucket = Parameters<typeof openKv>[1];

/** Gives the keys of one bucket a time to live. */
export interface KeyExpiry {
  /**
   * Writes the key's current value again with a per-message TTL of `ttlMs` (whole seconds, at
   * least one), so the server removes it that long from now. Resolves to false when the key holds
   * no value (never written, deleted or expired): there is nothing to expire.
   */
  expireAfter(key: string, ttlMs: number): Promise<boolean>;
}

/** The `Nats-TTL` of `ms`: whole seconds, rounded up, at least the server's minimum of one. */
export function ttlHeader(ms: number): string {
  return `${Math.max(1, Math.ceil(ms / 1000))}s`;
}

/**
 * Opens the expiry of one of the `EXPIRING_KV_BUCKETS` (their streams allow per-message TTLs).
 * The rewrite is a compare-and-set on the revision read, so it never brings back a key deleted in
 * between or overwrites a newer value; a lost race reads again.
 */
export async function openKeyExpiry(nc: NatsConnection, bucket: ExpiringBucket): Promise<KeyExpiry> {
  if (!EXPIRING_KV_BUCKETS.includes(bucket)) throw new Error(`bucket ${bucket} does not allow per-message TTLs`);
  const kv = await openKv(nc, bucket);
  const js = jetstream(nc);
  return {
    async expireAfter(key, ttlMs) {
      for (;;) {
        const entry = await kv.get(key);
        if (!entry || entry.operation !== "PUT") return false;
        try {
          await js.publish(`$KV.${bucket}.${key}`, entry.value, {
            ttl: ttlHeader(ttlMs),
            expect: { lastSubjectSequence: entry.revision },
          });
          return true;
        } catch (err) {
          if (!isKvConflict(err)) throw err;
        }
      }
    },
  };
}
