import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { Consumer, JOB_EVENTS_STREAM, JobEvent, Subject } from "@trainyard/contracts";
import { ack, ensureConsumer, startConsumer, type Delivery, type Logger, type Outcome } from "@trainyard/runtime";
import type { JobStore } from "./adapters/job-store.js";
import type { LiveHub } from "./live-hub.js";
import { apply, withChanges } from "./projection.js";

export interface ProjectorDeps {
  store: JobStore;
  hub: Pick<LiveHub, "jobChanged">;
  log: Logger;
}

/**
 * Applies one job event to the projection. A Mongo error throws, so the consumer retries the
 * same event with back-off; with one message in flight, later events wait behind it.
 */
export async function projectEvent(
  deps: ProjectorDeps,
  event: JobEvent,
  delivery: Pick<Delivery, "streamSequence">,
): Promise<Outcome> {
  const seq = delivery.streamSequence;
  // The gateway may cancel a job between our read and our write; then read and apply again.
  for (let attempt = 1; attempt <= 3; attempt++) {
    const outcome = await projectOnce(deps, event, seq);
    if (outcome !== "conflict") return ack;
  }
  throw new Error(`job ${event.job_id} kept changing while event ${seq} was applied`);
}

async function projectOnce(deps: ProjectorDeps, event: JobEvent, seq: number): Promise<"done" | "conflict"> {
  const record = await deps.store.get(event.job_id);
  if (!record) {
    // The gateway inserts the document before publishing anything; the projection cannot
    // invent a job's model config, so the event is skipped, loudly.
    deps.log.error(
      { job_id: event.job_id, type: event.type, seq },
      "event for a job with no (valid) document; skipped",
    );
    return "done";
  }
  const changes = apply(record, event, seq);
  if (!changes) {
    deps.log.debug({ job_id: event.job_id, type: event.type, seq }, "event already applied");
    return "done";
  }
  if (await deps.store.update(event.job_id, changes, record.status)) {
    deps.log.info(
      { job_id: event.job_id, type: event.type, seq, status: changes.status ?? record.status },
      "job projected",
    );
    await deps.hub.jobChanged(withChanges(record, changes));
    return "done";
  }
  const now = await deps.store.get(event.job_id);
  return now && now.last_event_seq < seq ? "conflict" : "done";
}

/** Reads JOB_EVENTS in order with the `dashboard-projection` durable until stopped. */
export async function startProjector(
  nats: { jsm: JetStreamManager; js: JetStreamClient },
  deps: ProjectorDeps,
): Promise<{ stop(): Promise<void> }> {
  await ensureConsumer(nats.jsm, {
    stream: JOB_EVENTS_STREAM,
    name: Consumer.dashboard,
    filterSubjects: [Subject.jobEventWildcard],
    ackWaitMs: 30_000,
    // One event in flight keeps each job's events in publication order.
    maxAckPending: 1,
  });
  return startConsumer({
    js: nats.js,
    stream: JOB_EVENTS_STREAM,
    consumer: Consumer.dashboard,
    schema: JobEvent,
    log: deps.log,
    handle: (event, delivery) => projectEvent(deps, event, delivery),
  });
}
