import type { DatasetReady, JobAssignment, JobEvent } from "@trainyard/contracts";
import { ack, retryLater, type Delivery, type Logger, type Outcome } from "@trainyard/runtime";
import type { Cluster } from "./adapters/cluster.js";
import { pickSlot } from "./slot-picker.js";

export interface SchedulingDeps {
  cluster: Cluster;
  publishAssignment(assignment: JobAssignment): Promise<void>;
  publishEvent(event: JobEvent, msgId: string): Promise<void>;
  /** True once the job was cancelled: it is dropped from the queue, never placed. */
  isCancelled(jobId: string): Promise<boolean>;
  log: Logger;
  pollMs: number;
  holdMs: number;
  now(): Date;
  sleep(ms: number): Promise<void>;
}

/**
 * Gives a dataset-ready job to a free slot. While no slot is free it holds the message
 * (the consumer has one in flight, so later jobs wait behind it: first in, first out) and
 * hands it back after `holdMs` so JetStream keeps owning the queue.
 */
export async function scheduleJob(deps: SchedulingDeps, job: DatasetReady, delivery: Delivery): Promise<Outcome> {
  const existing = await deps.cluster.leaseOf(job.job_id);
  const deadline = deps.now().getTime() + deps.holdMs;
  let lease = existing;
  let slot = existing ? await slotOf(deps.cluster, existing.agent_id, existing.slot_index) : null;
  if (existing && !slot) {
    // its agent is gone: drop the stale lease before placing the job elsewhere
    await deps.cluster.release(job.job_id);
    lease = null;
  }
  while (!lease || !slot) {
    if (await deps.isCancelled(job.job_id)) {
      deps.log.info({ job_id: job.job_id }, "cancelled job left the queue");
      return ack;
    }
    const choice = pickSlot(await deps.cluster.agents(), await deps.cluster.leases(), job.resources?.device);
    if (choice) {
      const candidate = {
        job_id: job.job_id,
        agent_id: choice.agentId,
        slot_index: choice.slot.index,
        assigned_at: deps.now().toISOString(),
      };
      if (await deps.cluster.claim(candidate)) {
        lease = candidate;
        slot = choice.slot;
        break;
      }
      continue; // another scheduler won that slot: look again at once
    }
    if (deps.now().getTime() > deadline) return retryLater(0, "no free slot");
    delivery.working();
    await deps.sleep(deps.pollMs);
  }
  const assignment: JobAssignment = { ...job, agent_id: lease.agent_id, slot, assigned_at: lease.assigned_at };
  await deps.publishAssignment(assignment);
  await deps.publishEvent(
    { type: "assigned", job_id: job.job_id, at: lease.assigned_at, agent_id: lease.agent_id, slot },
    `${job.job_id}:assigned:${lease.agent_id}:${slot.index}`,
  );
  deps.log.info({ job_id: job.job_id, agent_id: lease.agent_id, slot: slot.index }, "job assigned");
  return ack;
}

async function slotOf(cluster: Cluster, agentId: string, index: number) {
  const agent = (await cluster.agents()).find((a) => a.agent_id === agentId);
  return agent?.slots.find((s) => s.index === index) ?? null;
}

/** Frees the slot of a job that reached a terminal event. */
export async function releaseSlot(deps: Pick<SchedulingDeps, "cluster" | "log">, jobId: string): Promise<Outcome> {
  if (await deps.cluster.release(jobId)) deps.log.info({ job_id: jobId }, "slot released");
  return ack;
}
