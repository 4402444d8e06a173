import { CallbackTarget } from "@trainyard/contracts";

export type TargetLookup =
  | { kind: "found"; target: CallbackTarget }
  | { kind: "missing" }
  /** Present but unreadable: asking again returns the same bytes. */
  | { kind: "invalid"; reason: string };

/** Where a job's callbacks go (`callback-targets` bucket, key = job id, written by the gateway). */
export interface CallbackTargets {
  lookup(jobId: string): Promise<TargetLookup>;
}

/** The part of a NATS KV bucket this adapter reads (`KV` from @trainyard/runtime fits it). */
export interface TargetBucket {
  get(key: string): Promise<{ operation: "PUT" | "DEL" | "PURGE"; string(): string } | null>;
}

/** Callback targets read from the KV bucket. A NATS failure throws, so the event is retried. */
export function kvCallbackTargets(bucket: TargetBucket): CallbackTargets {
  return {
    async lookup(jobId) {
      const entry = await bucket.get(jobId);
      if (!entry || entry.operation !== "PUT") return { kind: "missing" };
      let raw: unknown;
      try {
        raw = JSON.parse(entry.string());
      } catch {
        return { kind: "invalid", reason: "value is not JSON" };
      }
      const parsed = CallbackTarget.safeParse(raw);
      if (!parsed.success) {
        // only paths: the messages could quote the secret
        return {
          kind: "invalid",
          reason: `bad fields: ${parsed.error.issues.map((i) => i.path.join(".")).join(", ")}`,
        };
      }
      return { kind: "found", target: parsed.data };
    },
  };
}

/**
 * Remembers found targets (a job's target never changes once stored), newest `capacity` kept,
 * so a job's later callbacks and retries skip the KV round trip. Misses are never cached.
 */
export function cachedTargets(inner: CallbackTargets, capacity = 10_000): CallbackTargets {
  const found = new Map<string, TargetLookup>();
  return {
    async lookup(jobId) {
      const hit = found.get(jobId);
      if (hit) return hit;
      const result = await inner.lookup(jobId);
      if (result.kind === "found") {
        found.set(jobId, result);
        if (found.size > capacity) found.delete(found.keys().next().value!);
      }
      return result;
    },
  };
}
