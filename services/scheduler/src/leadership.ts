import type { KV, Logger } from "@trainyard/runtime";

const LEADER_KEY = "leader";

export interface Leadership {
  isLeader(): boolean;
  /**
   * Renews the lease now and says whether this replica still holds it. Called before every
   * assignment: a replica that lost the lease (paused, partitioned) stops at once (fencing).
   */
  confirm(): Promise<boolean>;
  stop(): Promise<void>;
}

/**
 * Leader election over the scheduler-leader bucket, whose entries expire unless renewed. The
 * leader renews with a compare-and-set on its last revision, so after an expiry and a takeover
 * the old leader's next renewal fails instead of overwriting the new one.
 */
export function startLeadership(kv: KV, replicaId: string, renewMs: number, log: Logger): Leadership {
  let revision: number | null = null;
  const value = () => JSON.stringify({ replica_id: replicaId, since: new Date().toISOString() });
  let ticking: Promise<void> = Promise.resolve();
  const tick = () => {
    ticking = ticking.then(async () => {
      try {
        if (revision !== null) {
          revision = await kv.update(LEADER_KEY, value(), revision);
        } else {
          revision = await kv.create(LEADER_KEY, value());
          log.info({ replica_id: replicaId }, "became the scheduling leader");
        }
      } catch (err) {
        if (revision !== null) log.warn({ replica_id: replicaId, err: String(err) }, "lost the scheduling lead");
        revision = null;
      }
    });
    return ticking;
  };
  void tick();
  const timer = setInterval(() => void tick(), renewMs);
  return {
    isLeader: () => revision !== null,
    async confirm() {
      await tick();
      return revision !== null;
    },
    async stop() {
      clearInterval(timer);
      await ticking;
      // hand over at once rather than after the lease expires
      if (revision !== null) await kv.delete(LEADER_KEY, { previousSeq: revision }).catch(() => undefined);
      revision = null;
    },
  };
}
