import type { KV } from "@nats-io/kv";

export interface Mirrored<T> {
  value: T;
  revision: number;
}

/** A bucket kept in memory by a watch: reads cost nothing, and may lag writes by a moment. */
export interface KvMirror<T> {
  get(key: string): Mirrored<T> | undefined;
  entries(): Array<[string, Mirrored<T>]>;
  stop(): void;
}

/**
 * Mirrors a KV bucket through a watch (current values first, then every change). Writers that
 * act on a mirror must still compare-and-set on the revision they saw: a stale mirror then costs
 * a failed write, never a wrong one.
 */
export async function mirrorKv<T>(kv: KV, parse: (raw: unknown) => T | null): Promise<KvMirror<T>> {
  const state = new Map<string, Mirrored<T>>();
  const updates = await kv.watch();
  void (async () => {
    for await (const entry of updates) {
      if (entry.operation !== "PUT") {
        state.delete(entry.key);
        continue;
      }
      let value: T | null;
      try {
        value = parse(entry.json());
      } catch {
        value = null; // not JSON: treated as absent, like a value that fails its schema
      }
      if (value === null) state.delete(entry.key);
      else state.set(entry.key, { value, revision: entry.revision });
    }
  })();
  return {
    get: (key) => state.get(key),
    entries: () => [...state.entries()],
    stop: () => updates.stop(),
  };
}
