import { MongoServerError, type Db } from "mongodb";
import type { Logger } from "@trainyard/runtime";

/** The notifier's own collection: one document, the lease of the replica that delivers callbacks. */
export const NOTIFIER_LEASES_COLLECTION = "notifier_leases";
const LEASE_ID = "callback-delivery";
const DUPLICATE_KEY = 11000;
/** Part of the TTL a holder trusts its lease for, leaving the rest for clock skew and slow renewals. */
const TRUSTED_SHARE = 0.7;

interface LeaseDoc {
  _id: string;
  holder: string;
  expires_at: Date;
}

/**
 * The single-writer lease of callback delivery. One replica holds it and does all the work
 * (reads JOB_EVENTS, sends callbacks); the others wait and take over once it is released or has
 * expired. Expiry is judged by each replica's clock, so clocks are assumed to agree within
 * (1 − 0.7) × TTL.
 */
export interface Lease {
  /** Resolves true once this replica holds the lease; false if stopped first. */
  acquire(): Promise<boolean>;
  /** True while the lease is held and safely inside its TTL: checked before every attempt (fencing). */
  held(): boolean;
  /** Called once each time a held lease is lost (another replica took it, or renewals kept failing). */
  onLost(listener: () => void): void;
  /** Makes a pending `acquire` resolve false (shutting down while waiting). */
  cancelAcquire(): void;
  /** Stops renewing and hands the lease over at once. */
  release(): Promise<void>;
}

export function mongoLease(db: Db, opts: { replicaId: string; ttlMs: number; log: Logger }): Lease {
  const leases = db.collection<LeaseDoc>(NOTIFIER_LEASES_COLLECTION);
  const renewEveryMs = Math.max(50, Math.floor(opts.ttlMs / 3));
  let trustedUntil = 0;
  let holding = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let renewing: Promise<void> = Promise.resolve();
  const lostListeners: Array<() => void> = [];
  const waiters: Array<(held: boolean) => void> = [];

  const claim = async () => {
    const startedAt = Date.now();
    let won: boolean;
    try {
      const result = await leases.updateOne(
        { _id: LEASE_ID, $or: [{ holder: opts.replicaId }, { expires_at: { $lt: new Date(startedAt) } }] },
        { $set: { holder: opts.replicaId, expires_at: new Date(startedAt + opts.ttlMs) } },
        { upsert: true },
      );
      won = result.matchedCount + result.upsertedCount > 0;
    } catch (err) {
      if (!(err instanceof MongoServerError && err.code === DUPLICATE_KEY)) {
        // MongoDB unreachable: keep the lease until its trusted time runs out, then give up
        opts.log.warn({ err: String(err) }, "could not renew the delivery lease");
        if (holding && Date.now() >= trustedUntil) lose();
        return;
      }
      won = false;
    }
    if (stopped) return;
    if (won) {
      trustedUntil = startedAt + opts.ttlMs * TRUSTED_SHARE;
      if (!holding) opts.log.info({ replica_id: opts.replicaId }, "holding the callback delivery lease");
      holding = true;
      for (const wake of waiters.splice(0)) wake(true);
    } else if (holding) {
      lose();
    }
  };

  const lose = () => {
    holding = false;
    trustedUntil = 0;
    opts.log.warn({ replica_id: opts.replicaId }, "lost the callback delivery lease");
    for (const listener of lostListeners) listener();
  };

  const tick = () => {
    renewing = renewing.then(claim);
    return renewing;
  };

  return {
    acquire() {
      if (holding) return Promise.resolve(true);
      if (stopped) return Promise.resolve(false);
      const acquired = new Promise<boolean>((resolve) => waiters.push(resolve));
      if (!timer) {
        timer = setInterval(() => void tick(), renewEveryMs);
        void tick();
      }
      return acquired;
    },
    held: () => holding && Date.now() < trustedUntil,
    onLost: (listener) => lostListeners.push(listener),
    cancelAcquire() {
      for (const wake of waiters.splice(0)) wake(false);
    },
    async release() {
      stopped = true;
      clearInterval(timer);
      await renewing;
      for (const wake of waiters.splice(0)) wake(false);
      if (holding) {
        holding = false;
        await leases.deleteOne({ _id: LEASE_ID, holder: opts.replicaId }).catch(() => undefined);
      }
    },
  };
}
