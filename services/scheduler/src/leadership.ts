import { SCHEDULER_LEADER_TTL_MS, type KV, type Logger } from "@trainyard/runtime";

const LEADER_KEY = "leader";

export interface Leadership {
  isLeader(): boolean;
  /**
   * Says whether this replica still holds the lease, renewing it first unless the last renewal
   * is recent enough that no other replica can have taken over since (fencing: a replica that
   * lost the lease, paused or partitioned, stops at once). Called before every round.
   */
  confirm(): Promise<boolean>;
  /** Counts the times this replica became leader: a new term means another may have led before. */
  term(): number;
  stop(): Promise<void>;
}

/**
 * Leader election over the scheduler-leader bucket, whose entries expire `ttlMs` after their
 * last write unless renewed. The leader renews with a compare-and-set on its last revision, so
 * after an expiry and a takeover the old leader's next renewal fails instead of overwriting the
 * new one. Another replica can only create the key once it expired, which is at least `ttlMs`
 * after this replica sent its last successful renewal: for half of that time the lease is taken
 * as held without asking the server again.
 */
export function startLeadership(
  kv: KV,
  replicaId: string,
  renewMs: number,
  log: Logger,
  ttlMs: number = SCHEDULER_LEADER_TTL_MS,
): Leadership {
  let revision: number | null = null;
  let heldUntil = 0; // performance.now() until which the lease is surely ours
  let terms = 0;
  const value = () => JSON.stringify({ replica_id: replicaId, since: new Date().toISOString() });
  let ticking: Promise<void> = Promise.resolve();
  const tick = () => {
    ticking = ticking.then(async () => {
      const sentAt = performance.now();
      try {
        if (revision !== null) {
          revision = await kv.update(LEADER_KEY, value(), revision);
        } else {
          revision = await kv.create(LEADER_KEY, value());
          terms++;
          log.info({ replica_id: replicaId }, "became the scheduling leader");
        }
        heldUntil = sentAt + ttlMs / 2;
      } catch (err) {
        if (revision !== null) log.warn({ replica_id: replicaId, err: String(err) }, "lost the scheduling lead");
        revision = null;
        heldUntil = 0;
      }
    });
    return ticking;
  };
  void tick();
  const timer = setInterval(() => void tick(), renewMs);
  return {
    isLeader: () => revision !== null,
    async confirm() {
      if (revision !== null && performance.now() < heldUntil) return true;
      await tick();
      return revision !== null;
    },
    term: () => terms,
    async stop() {
      clearInterval(timer);
      await ticking;
      // hand over at once rather than after the lease expires
      if (revision !== null) await kv.delete(LEADER_KEY, { previousSeq: revision }).catch(() => undefined);
      revision = null;
      heldUntil = 0;
    },
  };
}
