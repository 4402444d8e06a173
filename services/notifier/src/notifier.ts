import { Bucket, Consumer, JOB_EVENTS_STREAM, JobEvent, Subject } from "@trainyard/contracts";
import { connectNats, ensureConsumer, ensureStreams, openKv, startConsumer, type Logger } from "@trainyard/runtime";
import { kvCallbackTargets } from "./adapters/callback-targets.js";
import { createHttpCallbackSender, type CallbackSender } from "./adapters/http-callback.js";
import type { DownloadLinks } from "./callback-mapping.js";
import { createCallbackDelivery } from "./delivery.js";
import type { RetryPolicy } from "./retry-schedule.js";

type NatsConnection = Awaited<ReturnType<typeof connectNats>>;

export interface NotifierDeps {
  nc: NatsConnection;
  log: Logger;
  links: DownloadLinks;
  retry: RetryPolicy;
  /** Used unless `sender` is given. */
  http: { timeoutMs: number; allowPrivate: boolean };
  sender?: CallbackSender;
}

/** Lookups of a missing callback target before giving up: enough to ride out a slow KV replica. */
const MISSING_TARGET_ATTEMPTS = 3;

/**
 * Starts delivering callbacks for `job.events.>`. The durable consumer has one message in
 * flight at a time, so each job's callbacks leave in publication order; a failed POST is
 * retried by a delayed nak of the same message, which also holds back everything after it.
 */
export async function startNotifier(deps: NotifierDeps): Promise<{ stop(): Promise<void> }> {
  const jsm = await ensureStreams(deps.nc);
  await ensureConsumer(jsm, {
    stream: JOB_EVENTS_STREAM,
    name: Consumer.notifier,
    filterSubjects: [Subject.jobEventWildcard],
    ackWaitMs: 60_000,
    maxAckPending: 1,
  });
  const targets = kvCallbackTargets(await openKv(deps.nc, Bucket.callbackTargets));
  const sender = deps.sender ?? createHttpCallbackSender(deps.http);
  const deliver = createCallbackDelivery({
    links: deps.links,
    targets,
    sender,
    retry: deps.retry,
    missingTargetAttempts: MISSING_TARGET_ATTEMPTS,
    log: deps.log,
  });
  const consumer = await startConsumer({
    js: jsm.jetstream(),
    stream: JOB_EVENTS_STREAM,
    consumer: Consumer.notifier,
    schema: JobEvent,
    log: deps.log,
    handle: (event, delivery) => deliver(event, delivery),
  });
  return {
    async stop() {
      await consumer.stop();
      await sender.close();
    },
  };
}
