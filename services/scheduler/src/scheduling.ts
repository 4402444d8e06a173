import {
  cancelledEvent,
  type DatasetReady,
  type JobAssignment,
  type JobEvent,
  type QueueEntry,
  type Slot,
  type SlotLease,
} from "@trainyard/contracts";
import {
  ack,
  publishOutcome,
  SCHEDULER_LEADER_TTL_MS,
  type JobOutcomes,
  type JobQueue,
  type Logger,
  type Outcome,
  type StoredEntry,
} from "@trainyard/runtime";
import type { Cluster } from "./adapters/cluster.js";
import type { Leadership } from "./leadership.js";
import { pickSlot, slotKey } from "./slot-picker.js";

export interface SchedulingDeps {
  queue: JobQueue;
  cluster: Cluster;
  leadership: Pick<Leadership, "isLeader" | "confirm" | "term">;
  /** True once the job was cancelled: it leaves the queue, never placed. */
  isCancelled(jobId: string): Promise<boolean>;
  /** The artifacts object of run `attempt`'s checkpoint (its last.pt), if its agent uploaded one. */
  checkpointOf(jobId: string, attempt: number): Promise<string | null>;
  publishAssignment(assignment: JobAssignment): Promise<void>;
  publishEvent: (event: JobEvent, msgId: string) => Promise<void>;
  /**
   * The job-outcomes bucket: a failure is published only if it is the job's outcome, and a new
   * run of a job is announced only once the runs before it are fenced out.
   */
  outcomes: JobOutcomes;
  /** Gives a finished job's `job-outcomes` and `cancellations` keys their time to live. */
  expireJobKeys(jobId: string): Promise<void>;
  maxAttempts: number;
  log: Logger;
  now(): Date;
}

/** `train.dataset.ready` → the queue. The stream sequence is the arrival order. */
export async function enqueueJob(
  deps: Pick<SchedulingDeps, "queue" | "log" | "now">,
  job: DatasetReady,
  arrival: number,
): Promise<Outcome> {
  const entry: QueueEntry = {
    job,
    priority: job.priority ?? "normal",
    seq: arrival,
    enqueued_at: deps.now().toISOString(),
    attempt: 1,
    resume_from: null,
    placement: null,
  };
  if (await deps.queue.enqueue(entry)) deps.log.info({ job_id: job.job_id, priority: entry.priority }, "job queued");
  return ack;
}

/**
 * A job reached its terminal event: it leaves the queue, frees its slot, and its outcome and
 * cancellation keys start their time to live (every terminal event reaches this release, so no
 * finished job's keys are kept for ever).
 */
export async function finishJob(
  deps: Pick<SchedulingDeps, "queue" | "cluster" | "log" | "expireJobKeys">,
  jobId: string,
): Promise<Outcome> {
  await deps.queue.remove(jobId);
  if (await deps.cluster.release(jobId)) deps.log.info({ job_id: jobId }, "slot released");
  await deps.expireJobKeys(jobId);
  return ack;
}

export interface RoundResult {
  placed: string[];
  requeued: string[];
  /** The leadership term whose placements this round announced again, if it did. */
  announcedTerm: number | null;
}

export interface RoundOptions {
  /**
   * Also look at the whole queue and every lease (default true): jobs whose agent is gone,
   * cancelled jobs behind the free slots, leases no queue entry stands behind, and after a
   * takeover the placements an earlier leader may not have announced. Without it a round only
   * fills free slots, which is what an arrival or a freed slot needs.
   */
  sweep?: boolean;
  /**
   * The last term whose placements were announced again: a sweep in a later term (this replica
   * took the lead since) announces every held placement again. Left out, none is.
   */
  announcedTerm?: number;
}

/** Placements written at once within a round; each is still a chain of compare-and-sets. */
const PLACEMENT_CONCURRENCY = 32;

/**
 * How old a lease must be before a sweep takes it for an orphan: a placement in flight holds its
 * lease a moment before its queue entry says so, and a lease younger than the leader lease's TTL
 * may belong to a placement that the previous leader is still finishing.
 */
export const ORPHAN_LEASE_AGE_MS = SCHEDULER_LEADER_TTL_MS;

/**
 * One scheduling round, run by the leader only: (when sweeping) jobs whose agent is gone go
 * back to waiting (to resume from their last checkpoint), then waiting jobs are matched to free
 * slots in queue order (in memory) and the placements written. Every write is a compare-and-set
 * (slot leases by create, queue entries by revision), so even two replicas that both believe
 * they lead can never place a job twice or fill a slot twice; the lead itself is confirmed
 * before each round.
 */
export async function scheduleRound(deps: SchedulingDeps, opts: RoundOptions = {}): Promise<RoundResult> {
  const sweep = opts.sweep ?? true;
  const result: RoundResult = { placed: [], requeued: [], announcedTerm: null };
  if (!deps.leadership.isLeader() || !(await deps.leadership.confirm())) return result;
  const agents = await deps.cluster.agents();
  const alive = new Set(agents.map((a) => a.agent_id));
  const leases = await deps.cluster.leases();
  const queued = await deps.queue.list();
  if (sweep) {
    await freeOrphanedLeases(deps, queued, leases);
    const term = deps.leadership.term();
    if (opts.announcedTerm !== undefined && opts.announcedTerm !== term) {
      await announceHeld(deps, queued, leases);
      result.announcedTerm = term;
    }
  }
  const plan: Array<{ stored: StoredEntry; lease: SlotLease; slot: Slot }> = [];
  // once every slot is planned, the rest of the queue only needs its lost and cancelled jobs seen to
  let freeSlots = agents
    .filter((a) => !a.draining)
    .reduce((n, a) => n + a.slots.filter((slot) => !leases.has(slotKey(a.agent_id, slot.index))).length, 0);
  for (const stored of queued) {
    const { entry } = stored;
    if (entry.placement) {
      if (!sweep) break; // the waiting entries come first
      if (!alive.has(entry.placement.agent_id) && (await requeueLost(deps, stored)))
        result.requeued.push(entry.job.job_id);
      continue;
    }
    if (freeSlots === 0 && !sweep) break;
    if (await deps.isCancelled(entry.job.job_id)) {
      // reported before the entry goes, so a crash in between reports it again (a no-op), never not at all
      await reportCancelled(deps, entry);
      await deps.queue.remove(entry.job.job_id, stored.revision);
      deps.log.info({ job_id: entry.job.job_id }, "cancelled job left the queue");
      continue;
    }
    if (freeSlots === 0) continue;
    const choice = pickSlot(agents, leases, {
      device: entry.job.resources?.device,
      memoryGb: entry.job.resources?.max_memory_gb,
    });
    if (!choice) continue;
    const lease: SlotLease = {
      job_id: entry.job.job_id,
      agent_id: choice.agentId,
      slot_index: choice.slot.index,
      assigned_at: deps.now().toISOString(),
    };
    leases.set(slotKey(lease.agent_id, lease.slot_index), lease);
    plan.push({ stored, lease, slot: choice.slot });
    freeSlots--;
  }
  const placed = await inBatches(plan, (p) => place(deps, p.stored, p.lease, p.slot));
  result.placed.push(...placed.filter((id): id is string => id !== null));
  return result;
}

/** Runs `write` over `items`, PLACEMENT_CONCURRENCY at a time; the results in item order. */
async function inBatches<T, R>(items: T[], write: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  for (let i = 0; i < items.length; i += PLACEMENT_CONCURRENCY)
    results.push(...(await Promise.all(items.slice(i, i + PLACEMENT_CONCURRENCY).map(write))));
  return results;
}

/**
 * Deletes leases whose job is no longer placed on their slot (a claim whose queue update never
 * came, a release cut short by a crash), once they are old enough not to be a placement in flight.
 */
async function freeOrphanedLeases(
  deps: SchedulingDeps,
  queued: StoredEntry[],
  leases: Map<string, SlotLease>,
): Promise<void> {
  const placedOn = new Map<string, string>();
  for (const { entry } of queued)
    if (entry.placement) placedOn.set(slotKey(entry.placement.agent_id, entry.placement.slot.index), entry.job.job_id);
  const now = deps.now().getTime();
  for (const [key, lease] of leases) {
    if (placedOn.get(key) === lease.job_id || now - Date.parse(lease.assigned_at) < ORPHAN_LEASE_AGE_MS) continue;
    await deps.cluster.releaseSlot(lease.agent_id, lease.slot_index);
    leases.delete(key);
    deps.log.warn(
      { job_id: lease.job_id, agent_id: lease.agent_id, slot: lease.slot_index },
      "orphaned slot lease freed",
    );
  }
}

/**
 * Announces every placement that holds its lease again: the replica that wrote one may have died
 * before announcing it. Assignments and events carry stable message ids, so JetStream's duplicate
 * window drops the repeats of those that were announced.
 */
async function announceHeld(deps: SchedulingDeps, queued: StoredEntry[], leases: Map<string, SlotLease>) {
  const held = queued.filter(({ entry }) => {
    const placement = entry.placement;
    return placement && leases.get(slotKey(placement.agent_id, placement.slot.index))?.job_id === entry.job.job_id;
  });
  await inBatches(held, ({ entry }) => announce(deps, entry));
  if (held.length > 0) deps.log.info({ placements: held.length }, "placements announced again after taking the lead");
}

/** Claims the slot, then moves the entry to placed; undoes the claim when the entry changed first. */
async function place(deps: SchedulingDeps, stored: StoredEntry, lease: SlotLease, slot: Slot): Promise<string | null> {
  if (!(await deps.cluster.claim(lease))) return null;
  const placed: QueueEntry = {
    ...stored.entry,
    placement: { agent_id: lease.agent_id, slot, assigned_at: lease.assigned_at },
  };
  if ((await deps.queue.update(placed, stored.revision)) === null) {
    await deps.cluster.releaseSlot(lease.agent_id, lease.slot_index);
    return null;
  }
  await announce(deps, placed);
  return lease.job_id;
}

async function announce(deps: SchedulingDeps, entry: QueueEntry): Promise<void> {
  const placement = entry.placement;
  if (!placement) return;
  const jobId = entry.job.job_id;
  if (entry.attempt > 1) {
    // The run this one replaces may still be training (its agent stopped or partitioned, not
    // dead): from now on it can claim nothing. An outcome claimed before the fence stands; the
    // new run finds it and publishes its event if its claimant could not.
    const claimed = await deps.outcomes.fence(jobId, entry.attempt);
    if (claimed)
      deps.log.info({ job_id: jobId, outcome: claimed.outcome }, "job ended before its new run was announced");
  }
  await Promise.all([
    deps.publishAssignment({
      ...entry.job,
      agent_id: placement.agent_id,
      slot: placement.slot,
      assigned_at: placement.assigned_at,
      attempt: entry.attempt,
      resume_from: entry.resume_from,
    }),
    deps.publishEvent(
      {
        type: "assigned",
        job_id: jobId,
        at: placement.assigned_at,
        agent_id: placement.agent_id,
        slot: placement.slot,
      },
      `${jobId}:assigned:${entry.attempt}`,
    ),
  ]);
  deps.log.info(
    { job_id: jobId, agent_id: placement.agent_id, slot: placement.slot.index, attempt: entry.attempt },
    "job assigned",
  );
}

/**
 * The CANCELLED event of a cancelled job leaving the queue. The gateway publishes it for a job
 * no agent had started and the agent for a running one; a job whose agent was lost after it
 * started has neither, so the scheduler publishes it too (the one terminal message id makes it
 * a no-op where one was published).
 */
async function reportCancelled(deps: SchedulingDeps, entry: QueueEntry): Promise<void> {
  const ran = entry.attempt > 1;
  await publishOutcome(
    deps.outcomes,
    deps.publishEvent,
    cancelledEvent(entry.job.job_id, deps.now(), {
      details: ran
        ? "The job was cancelled after its training host stopped responding; it had not finished."
        : "The job was cancelled while it waited for a training slot.",
      phase: ran ? "training" : "cancelled",
      epoch: null,
      partial_metrics: null,
    }),
  );
}

/** A placed job whose agent stopped heartbeating: back to waiting, or failed after too many runs. */
async function requeueLost(deps: SchedulingDeps, stored: StoredEntry): Promise<boolean> {
  const { entry } = stored;
  const jobId = entry.job.job_id;
  const lostAgent = entry.placement?.agent_id;
  if (entry.attempt >= deps.maxAttempts) {
    // the terminal event first: a crash before the entry goes leaves it for the next sweep to
    // report again (the terminal message id makes that a no-op), never a job gone unreported
    const outcome = await publishOutcome(deps.outcomes, deps.publishEvent, {
      type: "failed",
      job_id: jobId,
      at: deps.now().toISOString(),
      error: {
        code: "UNKNOWN_ERROR",
        message: "Training host lost",
        details: `The job's training host stopped responding ${entry.attempt} times; the job was given up.`,
        phase: "training",
        epoch: null,
      },
      partial_metrics: null,
    });
    // cancelled while its agent was gone: nobody else is left to say so
    if (outcome === "cancelled") await reportCancelled(deps, entry);
    if (!(await deps.queue.remove(jobId, stored.revision))) return false;
    await deps.cluster.release(jobId);
    deps.log.error(
      { job_id: jobId, agent_id: lostAgent, attempt: entry.attempt, outcome },
      outcome === "failed" ? "agent lost too often: job failed" : "agent lost too often after the job had ended",
    );
    return false;
  }
  const waiting: QueueEntry = {
    ...entry,
    attempt: entry.attempt + 1,
    // the lost run's own checkpoint, or (lost before its first epoch) the one it resumed from
    resume_from: (await deps.checkpointOf(jobId, entry.attempt)) ?? entry.resume_from,
    placement: null,
  };
  if ((await deps.queue.update(waiting, stored.revision)) === null) return false;
  await deps.cluster.release(jobId);
  deps.log.warn(
    { job_id: jobId, agent_id: lostAgent, attempt: waiting.attempt, resume_from: waiting.resume_from },
    "agent lost: job back in the queue",
  );
  return true;
}
