import { jetstream } from "@nats-io/jetstream";
import {
  Bucket,
  Consumer,
  DatasetReady,
  JobEvent,
  runArtifact,
  Subject,
  JOB_EVENTS_STREAM,
  TRAIN_STREAM,
} from "@trainyard/contracts";
import {
  connectNats,
  natsAuth,
  ensureConsumer,
  ensureStreams,
  openCancellations,
  openJobOutcomes,
  openJobQueue,
  openKeyExpiry,
  openKv,
  openObjectStore,
  publishJobEvent,
  publishJson,
  retryingJobOutcomes,
  retryTransient,
  runService,
  startConsumer,
  type TransientRetry,
} from "@trainyard/runtime";
import { openCluster } from "./adapters/cluster.js";
import { Env } from "./env.js";
import { startLeadership } from "./leadership.js";
import { enqueueJob, finishJob, scheduleRound, type SchedulingDeps } from "./scheduling.js";

/**
 * How long one publish or outcome write rides out a NATS outage (a restart, a leader election)
 * before the round gives up; the next round tries again, so this only keeps one round whole.
 */
const NATS_OUTAGE_MS = 15_000;

await runService("scheduler", Env, async (env, log) => {
  const nc = await connectNats(env.NATS_URL, `scheduler-${env.SCHEDULER_REPLICA_ID}`, natsAuth(env, "scheduler"));
  const jsm = await ensureStreams(nc);
  const js = jetstream(nc);
  // Every replica ingests into the queue bucket (idempotent); only the leader places.
  await ensureConsumer(jsm, {
    stream: TRAIN_STREAM,
    name: Consumer.scheduler,
    filterSubjects: [Subject.datasetReady],
    ackWaitMs: 30_000,
  });
  await ensureConsumer(jsm, {
    stream: JOB_EVENTS_STREAM,
    name: Consumer.schedulerReleases,
    filterSubjects: [...Subject.terminalJobEvents],
    ackWaitMs: 30_000,
  });
  const [queue, cluster, cancellations, artifacts, leaderKv, outcomeExpiry, cancellationExpiry] = await Promise.all([
    openJobQueue(nc, { mirror: true }),
    openCluster(nc, { mirror: true }),
    openCancellations(nc, { mirror: true }),
    openObjectStore(nc, Bucket.artifacts),
    openKv(nc, Bucket.schedulerLeader),
    openKeyExpiry(nc, Bucket.jobOutcomes),
    openKeyExpiry(nc, Bucket.cancellations),
  ]);
  const leadership = startLeadership(leaderKv, env.SCHEDULER_REPLICA_ID, env.SCHEDULER_LEADER_RENEW_MS, log);
  const shutdown = new AbortController();
  const natsRetry: TransientRetry = {
    forMs: NATS_OUTAGE_MS,
    signal: shutdown.signal,
    onRetry: (err, attempt) => log.warn({ err: String(err), attempt }, "NATS unavailable: trying again"),
  };
  const deps: SchedulingDeps = {
    queue,
    cluster,
    leadership,
    isCancelled: (jobId) => cancellations.isCancelled(jobId),
    async checkpointOf(jobId, attempt) {
      const name = runArtifact(jobId, attempt, "last.pt");
      const info = await retryTransient(() => artifacts.info(name), natsRetry);
      return info && !info.deleted ? name : null;
    },
    // the message ids make a repeated publish a no-op, so a publish may ride out an outage
    publishAssignment: (a) =>
      publishJson(js, Subject.assignment(a.agent_id), a, `${a.job_id}:assign:${a.attempt}`, natsRetry),
    publishEvent: (event, msgId) => publishJobEvent(js, event, msgId, natsRetry),
    outcomes: retryingJobOutcomes(await openJobOutcomes(nc), natsRetry),
    async expireJobKeys(jobId) {
      await outcomeExpiry.expireAfter(jobId, env.SCHEDULER_FINISHED_JOB_TTL);
      await cancellationExpiry.expireAfter(jobId, env.SCHEDULER_FINISHED_JOB_TTL);
    },
    maxAttempts: env.SCHEDULER_MAX_ATTEMPTS,
    log,
    now: () => new Date(),
  };

  // Rounds never overlap. An arrival or a freed slot asks for a round that fills free slots at
  // once; the timer's rounds also sweep the whole queue and every lease (lost agents, cancelled
  // jobs, orphaned leases, and after a takeover the placements to announce again).
  let round: Promise<unknown> = Promise.resolve();
  let pending: "fill" | "sweep" | null = null;
  let announcedTerm = 0;
  const runRound = (kind: "fill" | "sweep") => {
    const queued = pending;
    pending = kind === "sweep" || queued === "sweep" ? "sweep" : "fill";
    if (queued) return;
    round = round.then(async () => {
      const sweep = pending === "sweep";
      pending = null;
      try {
        const result = await scheduleRound(deps, { sweep, announcedTerm });
        if (result.announcedTerm !== null) announcedTerm = result.announcedTerm;
      } catch (err) {
        // A placement may be written but not announced (NATS went away in between): the next
        // sweep announces every held placement again, as after a takeover; the message ids make
        // the repeats of those that were announced no-ops.
        announcedTerm = 0;
        log.error({ err }, "scheduling round failed: held placements are announced again next sweep");
      }
    });
  };
  const timer = setInterval(() => runRound("sweep"), env.SCHEDULER_POLL_MS);

  const intake = await startConsumer({
    js,
    stream: TRAIN_STREAM,
    consumer: Consumer.scheduler,
    schema: DatasetReady,
    log,
    // arrival order is the stream sequence, not the order of ingestion, so ingest in parallel
    concurrency: 32,
    handle: async (job, delivery) => {
      const outcome = await enqueueJob(deps, job, delivery.streamSequence);
      runRound("fill");
      return outcome;
    },
  });
  const releases = await startConsumer({
    js,
    stream: JOB_EVENTS_STREAM,
    consumer: Consumer.schedulerReleases,
    schema: JobEvent,
    log,
    // releases of different jobs are independent, and a second release is a no-op
    concurrency: 32,
    idempotent: true,
    handle: async (event) => {
      const outcome = await finishJob(deps, event.job_id);
      runRound("fill");
      return outcome;
    },
  });
  log.info({ replica_id: env.SCHEDULER_REPLICA_ID }, "scheduler started");
  return {
    async stop() {
      shutdown.abort();
      clearInterval(timer);
      await Promise.all([intake.stop(), releases.stop()]);
      await round;
      await leadership.stop();
      queue.stop();
      cluster.stop();
      await nc.drain();
    },
  };
});
