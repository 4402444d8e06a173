import type { NatsConnection } from "@nats-io/transport-node";
import type { Db } from "mongodb";
import { Bucket, Consumer, JOB_EVENTS_STREAM, RedeliveryRequest, Subject, TRAIN_STREAM } from "@trainyard/contracts";
import {
  ensureConsumer,
  ensureStreams,
  openKeyExpiry,
  openKv,
  retryTransient,
  startConsumer,
  ack,
  type Logger,
} from "@trainyard/runtime";
import { cachedTargets, kvCallbackTargets, type CallbackTargets } from "./adapters/callback-targets.js";
import { openDeliveryStore } from "./adapters/delivery-store.js";
import { createHttpCallbackSender, type CallbackSender, type HttpCallbackOptions } from "./adapters/http-callback.js";
import { mongoLease } from "./adapters/lease.js";
import type { DownloadLinks } from "./callback-mapping.js";
import { DeliveryScheduler } from "./delivery-scheduler.js";
import { startEventIntake } from "./event-intake.js";
import type { RetryPolicy } from "./retry-schedule.js";

export interface NotifierDeps {
  nc: NatsConnection;
  db: Db;
  log: Logger;
  links: DownloadLinks;
  retry: RetryPolicy;
  /** Used unless `sender` is given. */
  http: HttpCallbackOptions;
  /** Callback POSTs in flight at once, all jobs together. */
  concurrency: number;
  /** This replica's name in the delivery lease. */
  replicaId: string;
  /** How long a silent replica keeps the lease before another takes over. */
  leaseTtlMs: number;
  /** How long a job's callback target is kept after its terminal event was taken in (retention). */
  targetTtlMs: number;
  /** How long a new callback may wait on its unacknowledged job event (default 5 s). */
  holdMs?: number;
  sender?: CallbackSender;
  targets?: CallbackTargets;
  /** Whether callbacks carry the PRD's `X-Callback-Secret` header (default true). */
  secretHeader?: boolean;
}

export interface Notifier {
  /** Resolves once this replica holds the delivery lease and has resumed every open callback. */
  readonly active: Promise<void>;
  stop(): Promise<void>;
}

/** Acknowledgement deadline of a job event: its callback is written to the outbox within milliseconds. */
const EVENT_ACK_WAIT_MS = 60_000;
/** Events received ahead of acknowledgement; bounds the memory an outage of MongoDB can take. */
const EVENT_MAX_ACK_PENDING = 2_000;
/**
 * How long a new callback may wait on its unacknowledged job event before it is written to the
 * outbox (most are delivered, and logged, well before): far inside the ack wait.
 */
const HOLD_MS = 5_000;
const ACTIVATION_RETRY_MS = 1_000;
/**
 * How long a job's terminal event waits out a NATS outage to start its callback target's time to
 * live; giving up leaves the event unacknowledged, to come back after its ack wait.
 */
const NATS_OUTAGE_MS = 30_000;

/**
 * Delivers callbacks for `job.events.>`. Replicas share one lease (MongoDB): the holder does
 * all the work, the others wait and take over when it stops or its lease expires, resuming
 * from the outbox and the durable consumers where it left off.
 */
export async function startNotifier(deps: NotifierDeps): Promise<Notifier> {
  const jsm = await ensureStreams(deps.nc);
  await ensureConsumer(jsm, {
    stream: JOB_EVENTS_STREAM,
    name: Consumer.notifier,
    filterSubjects: [Subject.jobEventWildcard],
    ackWaitMs: EVENT_ACK_WAIT_MS,
    maxAckPending: EVENT_MAX_ACK_PENDING,
  });
  await ensureConsumer(jsm, {
    stream: TRAIN_STREAM,
    name: Consumer.notifierRedeliveries,
    filterSubjects: [Subject.redeliverCallback],
    ackWaitMs: 30_000,
    maxAckPending: 1,
  });
  const targets = deps.targets ?? cachedTargets(kvCallbackTargets(await openKv(deps.nc, Bucket.callbackTargets)));
  const targetExpiry = await openKeyExpiry(deps.nc, Bucket.callbackTargets);
  const sender = deps.sender ?? createHttpCallbackSender(deps.http);
  const store = await openDeliveryStore(deps.db, deps.log);
  const lease = mongoLease(deps.db, { replicaId: deps.replicaId, ttlMs: deps.leaseTtlMs, log: deps.log });

  let work: { stop(): Promise<void> } | null = null;
  let stopping = false;
  const shutdown = new AbortController();
  // one transition at a time: activation, deactivation after a lost lease, shutdown
  let transitions: Promise<void> = Promise.resolve();
  const queue = (step: () => Promise<void>) => (transitions = transitions.then(step, step));

  let markActive: () => void = () => undefined;
  const active = new Promise<void>((resolve) => (markActive = resolve));

  const activate = async (): Promise<void> => {
    if (!(await lease.acquire()) || stopping) return;
    const started: Array<{ stop(): Promise<void> }> = [];
    try {
      const scheduler = new DeliveryScheduler({
        store,
        targets,
        sender,
        secretHeader: deps.secretHeader ?? true,
        policy: deps.retry,
        concurrency: deps.concurrency,
        holdMs: deps.holdMs ?? HOLD_MS,
        log: deps.log,
        mayDeliver: () => lease.held(),
      });
      started.push(scheduler);
      await scheduler.restore(await store.loadOpen());
      started.unshift(
        await startEventIntake({
          jsm,
          store,
          scheduler,
          links: deps.links,
          log: deps.log,
          async expireTarget(jobId) {
            // a compare-and-set on the value read: safe to repeat
            await retryTransient(() => targetExpiry.expireAfter(jobId, deps.targetTtlMs), {
              forMs: NATS_OUTAGE_MS,
              signal: shutdown.signal,
              onRetry: (err, attempt) =>
                deps.log.warn({ job_id: jobId, err: String(err), attempt }, "NATS unavailable: trying again"),
            });
          },
        }),
      );
      scheduler.start();
      started.unshift(
        await startConsumer({
          js: jsm.jetstream(),
          stream: TRAIN_STREAM,
          consumer: Consumer.notifierRedeliveries,
          schema: RedeliveryRequest,
          log: deps.log,
          handle: async (request) => {
            const outcome = await scheduler.redeliver(request);
            deps.log.info({ job_id: request.job_id, callback_id: request.callback_id, outcome }, "redelivery request");
            return ack;
          },
        }),
      );
    } catch (err) {
      // NATS or MongoDB failed half-way: undo, then try again (still holding the lease)
      deps.log.error({ err }, "could not start delivering callbacks; retrying");
      for (const part of started) await part.stop().catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, ACTIVATION_RETRY_MS));
      if (!stopping) void queue(activate);
      return;
    }
    work = {
      async stop() {
        // stop taking work first (redeliveries, events), then let attempts in flight finish
        for (const part of started) await part.stop();
        await store.barrier();
      },
    };
    deps.log.info({ replica_id: deps.replicaId }, "delivering callbacks");
    markActive();
  };

  lease.onLost(() => {
    void queue(async () => {
      await work?.stop();
      work = null;
      if (!stopping) void queue(activate);
    });
  });

  void queue(activate);
  return {
    active,
    async stop() {
      stopping = true;
      shutdown.abort();
      lease.cancelAcquire();
      await queue(async () => {
        await work?.stop();
        work = null;
        await lease.release();
        await store.close();
        if (!deps.sender) await sender.close();
      });
    },
  };
}
