import type { KV } from "@nats-io/kv";

export interface Mirrored<T> {
  value: T;
  revision: number;
}

/** A bucket kept in memory by a watch: reads cost nothing, and may lag writes by a moment. */
export interface KvMirror<T> {
  get(key: string): Mirrored<T> | undefined;
  entries(): Array<[string, Mirrored<T>]>;
  /** Resolves once the bucket's values at the time of the watch are in memory. */
  readonly loaded: Promise<void>;
  /**
   * Records a write this process made (a put, create or update that returned `revision`; a
   * delete of the entry at `revision`, with `value` null) ahead of the watch, so its own next
   * read sees it. The watch's older news of that key is then skipped.
   */
  noteWrite(key: string, value: T | null, revision: number): void;
  stop(): void;
}

/** Called on every change the mirror takes in: the entry before and after (undefined: absent). */
export type MirrorChange<T> = (key: string, before: Mirrored<T> | undefined, after: Mirrored<T> | undefined) => void;

/**
 * Mirrors a KV bucket through a watch (current values first, then every change). Writers that
 * act on a mirror must still compare-and-set on the revision they saw: a stale mirror then costs
 * a failed write, never a wrong one.
 */
export async function mirrorKv<T>(
  kv: KV,
  parse: (raw: unknown) => T | null,
  onChange?: MirrorChange<T>,
): Promise<KvMirror<T>> {
  const state = new Map<string, Mirrored<T>>();
  // revisions written here that the watch has not delivered yet: its older entries are stale
  const ahead = new Map<string, number>();
  const set = (key: string, next: Mirrored<T> | undefined) => {
    const before = state.get(key);
    if (next) state.set(key, next);
    else state.delete(key);
    onChange?.(key, before, next);
  };
  const updates = await kv.watch();
  let markLoaded = () => {};
  const loaded = new Promise<void>((resolve) => (markLoaded = resolve));
  void (async () => {
    for await (const entry of updates) {
      if (entry.isUpdate) markLoaded();
      const written = ahead.get(entry.key);
      if (written !== undefined) {
        if (entry.revision <= written) continue;
        ahead.delete(entry.key);
      }
      if (entry.operation !== "PUT") {
        set(entry.key, undefined);
        continue;
      }
      let value: T | null;
      try {
        value = parse(entry.json());
      } catch {
        value = null; // not JSON: treated as absent, like a value that fails its schema
      }
      set(entry.key, value === null ? undefined : { value, revision: entry.revision });
    }
  })();
  // an empty bucket sends no first entry to say the initial values are in
  if ((await kv.status()).values === 0) markLoaded();
  return {
    get: (key) => state.get(key),
    entries: () => [...state.entries()],
    loaded,
    noteWrite(key, value, revision) {
      const known = state.get(key)?.revision ?? 0;
      if (revision < known) return; // the watch already brought something newer
      ahead.set(key, revision);
      set(key, value === null ? undefined : { value, revision });
    },
    stop: () => updates.stop(),
  };
}
