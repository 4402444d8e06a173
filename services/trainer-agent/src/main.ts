import { jetstream } from "@nats-io/jetstream";
import { hostname } from "node:os";
import { join, resolve } from "node:path";
import { agentUser, Bucket, Consumer, JobAssignment, Subject, TRAIN_STREAM } from "@trainyard/contracts";
import {
  connectNats,
  natsAuth,
  ensureConsumer,
  ensureStreams,
  openCancellations,
  openJobQueue,
  openKv,
  openObjectStore,
  openJobOutcomes,
  publishJobEvent,
  retryTransient,
  retryingJobOutcomes,
  runService,
  startConsumer,
  type TransientRetry,
  ensurePrivateDir,
  zipLimitsOf,
} from "@trainyard/runtime";
import { checkpointStore } from "./adapters/checkpoints.js";
import { readDiskSpace } from "./adapters/disk-space.js";
import { UploadRate } from "./checkpoint-uploads.js";
import { jobFiles } from "./adapters/job-files.js";
import { startTrainer } from "./adapters/trainer-process.js";
import { SCRATCH_STALE_MS, sweepWorkDir } from "./adapters/work-dir.js";
import { detectSlots, readGpus } from "./devices.js";
import { Env } from "./env.js";
import { startHeartbeat } from "./heartbeat.js";
import { runAssignment, type RunDeps } from "./training-run.js";
import { WorkDisk } from "./work-disk.js";
import { trainerEnvironment } from "./trainer-env.js";

/**
 * How long a running job rides out a NATS outage (a cluster elects a new stream leader within
 * seconds) by trying its publishes, uploads and reads again, before it is handed back.
 */
const NATS_OUTAGE_MS = 60_000;
/** How often the agent reads its work folder's free space. */
const DISK_CHECK_MS = 2_000;

await runService("trainer-agent", Env, async (env, log) => {
  log = log.child({ agent_id: env.AGENT_ID });
  const slots = await detectSlots(env.AGENT_DEVICES);
  const nc = await connectNats(env.NATS_URL, `trainer-agent-${env.AGENT_ID}`, natsAuth(env, agentUser(env.AGENT_ID)));
  const jsm = await ensureStreams(nc);
  const js = jetstream(nc);
  // Up to one job per slot in flight; a job acked only at its end is redelivered if this agent dies.
  await ensureConsumer(jsm, {
    stream: TRAIN_STREAM,
    name: Consumer.agent(env.AGENT_ID),
    filterSubjects: [Subject.assignment(env.AGENT_ID)],
    ackWaitMs: 60_000,
    maxAckPending: slots.length,
  });
  const [agents, datasets, artifacts] = await Promise.all([
    openKv(nc, Bucket.agents),
    openObjectStore(nc, Bucket.datasets),
    openObjectStore(nc, Bucket.artifacts),
  ]);
  const queue = await openJobQueue(nc);
  // this agent's own (0700), before anything is read from it or written to it
  await ensurePrivateDir(resolve(env.AGENT_WORK_DIR), "AGENT_WORK_DIR");
  // what earlier runs left: folders of finished jobs, unfinished archive downloads
  const swept = await sweepWorkDir(resolve(env.AGENT_WORK_DIR), {
    isQueued: async (jobId) => (await queue.get(jobId)) !== null,
    staleBefore: Date.now() - SCRATCH_STALE_MS,
  });
  if (swept.jobs.length || swept.scratch.length)
    log.info({ finished_jobs: swept.jobs.length, downloads: swept.scratch.length }, "work dir swept");
  const shutdown = new AbortController();
  let draining = env.AGENT_DRAIN;
  // running jobs' cancellation switches, flipped by the cancellations bucket watch
  const cancelSwitches = new Map<string, AbortController>();
  const cancellations = await openCancellations(nc);
  const cancelWatch = await cancellations.watch((jobId) => cancelSwitches.get(jobId)?.abort());
  const natsRetry: TransientRetry = {
    forMs: NATS_OUTAGE_MS,
    signal: shutdown.signal,
    onRetry: (err, attempt) => log.warn({ err: String(err), attempt }, "NATS unavailable: trying again"),
  };
  const outcomes = await openJobOutcomes(nc);
  const workDir = resolve(env.AGENT_WORK_DIR);
  // announces a change of the work folder's state at once, once the heartbeat runs
  let announce = () => {};
  // while the work folder is full this agent takes no job: its heartbeat says draining
  const disk = new WorkDisk({
    readSpace: () => readDiskSpace(workDir),
    minFreeBytes: env.AGENT_WORK_DIR_MIN_FREE_MB * 1024 ** 2,
    now: () => Date.now(),
    ledgerFile: join(workDir, ".disk-hand-backs.json"),
    onChange(full, space) {
      if (full) log.warn({ free_bytes: space?.freeBytes }, "work folder full: taking no new job until there is room");
      else log.info({ free_bytes: space?.freeBytes }, "work folder has room again: taking jobs");
      announce();
    },
  });
  await disk.check();
  const diskChecks = setInterval(() => void disk.check(), DISK_CHECK_MS);
  const deps: RunDeps = {
    files: jobFiles(datasets, artifacts, natsRetry),
    checkpoints: checkpointStore(artifacts, natsRetry),
    checkpointShare: env.CHECKPOINT_UPLOAD_SHARE,
    uploadRate: new UploadRate(),
    agentId: env.AGENT_ID,
    async placementOf(jobId) {
      const stored = await retryTransient(() => queue.get(jobId), natsRetry);
      const placement = stored?.entry.placement;
      return placement ? { agent_id: placement.agent_id, attempt: stored.entry.attempt } : null;
    },
    maxRunAttempts: env.AGENT_MAX_RUN_ATTEMPTS,
    publish: (event, msgId) => publishJobEvent(js, event, msgId, natsRetry),
    // a claim is safe to repeat: the same run's claim of the same outcome holds again
    outcomes: retryingJobOutcomes(outcomes, natsRetry),
    launch: startTrainer,
    python: env.TRAINER_PYTHON,
    weightsDir: env.TRAINER_WEIGHTS_DIR ? resolve(env.TRAINER_WEIGHTS_DIR) : null,
    workDir,
    defaultWorkers: env.TRAINER_DEFAULT_WORKERS,
    trainerEnv: trainerEnvironment(process.env),
    zipLimits: zipLimitsOf(env),
    log,
    now: () => new Date(),
    shutdown: shutdown.signal,
    disk,
    async cancellation(jobId) {
      const cancelSwitch = new AbortController();
      cancelSwitches.set(jobId, cancelSwitch);
      if (await cancellations.isCancelled(jobId)) cancelSwitch.abort();
      return { signal: cancelSwitch.signal, release: () => cancelSwitches.delete(jobId) };
    },
  };
  const consumer = await startConsumer({
    js,
    stream: TRAIN_STREAM,
    consumer: Consumer.agent(env.AGENT_ID),
    schema: JobAssignment,
    log,
    // an assignment delivered while the work folder is full is handed back untouched
    handle: (job, delivery) =>
      disk.guard(
        job,
        () => cancellations.isCancelled(job.job_id),
        () => runAssignment(deps, job, delivery),
      ),
    concurrency: slots.length,
  });
  const heartbeat = startHeartbeat(
    agents,
    { agent_id: env.AGENT_ID, host: hostname(), slots, started_at: new Date().toISOString() },
    () => readGpus(slots),
    () => draining || disk.full,
    env.HEARTBEAT_INTERVAL_MS,
    log,
  );
  await heartbeat.first;
  announce = () => void heartbeat.beatNow();
  // SIGUSR2 drains this agent: it finishes its jobs and the scheduler gives it no new one
  process.on("SIGUSR2", () => {
    draining = true;
    log.info("draining: finishing current jobs, accepting none");
    void heartbeat.beatNow();
  });
  log.info({ slots }, "trainer-agent ready");
  return {
    // SIGTERM: take nothing new, stop the trainers at their next batch boundary (their jobs are
    // handed back and resume elsewhere from the last uploaded checkpoint), and only then leave the
    // agents bucket: the scheduler moves this agent's jobs once no trainer of theirs runs here.
    async stop() {
      draining = true;
      await heartbeat.beatNow();
      shutdown.abort();
      await consumer.stop();
      await heartbeat.stop();
      cancelWatch.stop();
      clearInterval(diskChecks);
      await nc.drain();
    },
  };
});
