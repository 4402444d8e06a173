import { jetstream } from "@nats-io/jetstream";
import { Bucket, Consumer, Subject, TRAIN_STREAM, TrainRequested } from "@trainyard/contracts";
import {
  connectNats,
  natsAuth,
  ensureConsumer,
  ensureStreams,
  guardedAgent,
  outboundPolicyOf,
  ensurePrivateDir,
  zipLimitsOf,
  openObjectStore,
  publishJobEvent,
  publishJson,
  startConsumer,
  type Logger,
  openCancellations,
  openJobOutcomes,
  openJobQueue,
  isNotFound,
  retryingJobOutcomes,
  retryTransient,
  type TransientRetry,
} from "@trainyard/runtime";
import { archiveObjects } from "./adapters/archive-objects.js";
import { downloadArchive } from "./adapters/download.js";
import { objectDatasetStore } from "./adapters/dataset-store.js";
import { sweepWorkDir } from "./adapters/work-dir.js";
import { sweepArchives } from "./archive-retention.js";
import { ArchiveTree } from "./archive-tree.js";
import { intakeDataset } from "./dataset-intake.js";
import type { Env } from "./env.js";
import { validateYoloDataset } from "./yolo-layout.js";

/** The consumer's ack wait; intake sends in-progress acks well within it. */
const ACK_WAIT_MS = 60_000;
/** Jobs one instance works on at once; each is mostly waiting on the network or the disk. */
const JOBS_IN_FLIGHT = 4;
/** A deleted archive's marker lives this long (the first sweep of a process purges its chunks again). */
const DELETED_MARKER_TTL_MS = 24 * 60 * 60 * 1000;
/** A work-dir entry untouched this long is a leftover: running intakes touch theirs every 15 s. */
const SCRATCH_STALE_MS = 10 * 60 * 1000;
/**
 * How long an intake rides out a NATS outage (a restart, a leader election) by trying its
 * publishes, claims, reads and the archive's store again: far cheaper than the redelivery that
 * follows when it gives up, which downloads the archive again.
 */
const NATS_OUTAGE_MS = 60_000;

export interface DatasetService {
  /** Stops taking jobs, interrupts running downloads (they are redelivered later), closes NATS. */
  stop(): Promise<void>;
}

/** Connects to NATS, makes sure the topology exists and starts consuming `train.requested`. */
export async function startDatasetService(env: Env, log: Logger): Promise<DatasetService> {
  const nc = await connectNats(env.NATS_URL, "dataset", natsAuth(env, "dataset"));
  const jsm = await ensureStreams(nc);
  await ensureConsumer(jsm, {
    stream: TRAIN_STREAM,
    name: Consumer.dataset,
    filterSubjects: [Subject.trainRequested],
    ackWaitMs: ACK_WAIT_MS,
    maxAckPending: JOBS_IN_FLIGHT,
  });
  const js = jetstream(nc);
  // this service's own (0700): downloads in progress are no other user's to read or plant
  await ensurePrivateDir(env.DATASET_WORK_DIR, "DATASET_WORK_DIR");
  const datasets = await openObjectStore(nc, Bucket.datasets);
  const cancellations = await openCancellations(nc);
  const outcomes = await openJobOutcomes(nc);
  const policy = outboundPolicyOf(env);
  const dispatcher = guardedAgent(policy, { connect: { timeout: env.DATASET_CONNECT_TIMEOUT_MS } });
  const archives = await archiveObjects(nc, Bucket.datasets, { markerTtlMs: DELETED_MARKER_TTL_MS });
  const store = objectDatasetStore(datasets, archives);
  const queue = await openJobQueue(nc);
  const limits = zipLimitsOf(env);
  const stopping = new AbortController();
  const natsRetry: TransientRetry = {
    forMs: NATS_OUTAGE_MS,
    signal: stopping.signal,
    onRetry: (err, attempt) => log.warn({ err: String(err), attempt }, "NATS unavailable: trying again"),
  };
  // every step is safe to repeat: publishes carry message ids, claims and the store's writes
  // are compare-and-sets that decide again on what they read
  const retryingStore: typeof store = {
    findValidated: (sha256) => retryTransient(() => store.findValidated(sha256), natsRetry),
    storeValidated: (zipFile, sha256, record) =>
      retryTransient(() => store.storeValidated(zipFile, sha256, record), natsRetry),
  };
  // running intakes' cancellation switches, flipped by the cancellations bucket watch
  const cancelSwitches = new Map<string, AbortController>();
  const cancelWatch = await cancellations.watch((jobId) => cancelSwitches.get(jobId)?.abort());

  const consumer = await startConsumer({
    js,
    stream: TRAIN_STREAM,
    consumer: Consumer.dataset,
    schema: TrainRequested,
    log,
    // as many handlers as the consumer lets in flight, so none waits unacked behind a long download
    concurrency: JOBS_IN_FLIGHT,
    handle: (request, delivery) =>
      intakeDataset(request, delivery, {
        workDir: env.DATASET_WORK_DIR,
        download: (url, destFile, onProgress, cancelled) =>
          downloadArchive(url, destFile, {
            dispatcher,
            policy,
            maxBytes: env.DATASET_MAX_BYTES,
            timeoutMs: env.DATASET_DOWNLOAD_TIMEOUT_MS,
            idleTimeoutMs: env.DATASET_IDLE_TIMEOUT_MS,
            attempts: env.DATASET_DOWNLOAD_ATTEMPTS,
            onProgress,
            signal: AbortSignal.any([stopping.signal, cancelled]),
          }),
        inspect: (zipFile, signal) => ArchiveTree.inspect(zipFile, limits, AbortSignal.any([stopping.signal, signal])),
        validate: validateYoloDataset,
        lenient: env.DATASET_LENIENT_VALIDATION,
        store: retryingStore,
        publishJobEvent: (event, msgId) => publishJobEvent(js, event, msgId, natsRetry),
        outcomes: retryingJobOutcomes(outcomes, natsRetry),
        isCancelled: (jobId) => retryTransient(() => cancellations.isCancelled(jobId), natsRetry),
        watchCancellation(jobId) {
          const cancelSwitch = new AbortController();
          cancelSwitches.set(jobId, cancelSwitch);
          const release = () => {
            // a redelivery of the same job may have put its own switch since
            if (cancelSwitches.get(jobId) === cancelSwitch) cancelSwitches.delete(jobId);
          };
          return { signal: cancelSwitch.signal, release };
        },
        publishDatasetReady: (ready, msgId) => publishJson(js, Subject.datasetReady, ready, msgId, natsRetry),
        log,
        workingIntervalMs: ACK_WAIT_MS / 4,
      }),
  });
  const sweeps = startSweeps(env, log, {
    archives,
    async schedulerCaughtUp() {
      try {
        const info = await jsm.consumers.info(TRAIN_STREAM, Consumer.scheduler);
        return info.num_pending === 0 && info.num_ack_pending === 0;
      } catch (err) {
        // no scheduler has started yet: the ready datasets wait in the stream
        if (isNotFound(err)) return false;
        throw err;
      }
    },
    async archivesInQueue() {
      return new Set((await queue.list()).map(({ entry }) => entry.job.dataset_object));
    },
  });
  log.info(
    {
      work_dir: env.DATASET_WORK_DIR,
      allow_private: policy.allowPrivate,
      allow_list: [...policy.allowHosts, ...policy.allowCidrs],
      lenient: env.DATASET_LENIENT_VALIDATION,
    },
    "dataset service started",
  );

  return {
    async stop() {
      stopping.abort();
      await sweeps.stop();
      await consumer.stop();
      cancelWatch.stop();
      await nc.drain();
      await dispatcher.close();
    },
  };
}

/**
 * Sweeps the datasets store (archives no job needs) and the work dir (a killed process's
 * leftovers) now and every DATASET_SWEEP_INTERVAL, one sweep at a time; a failed sweep is logged
 * and the next one tries again.
 */
function startSweeps(
  env: Env,
  log: Logger,
  deps: Pick<Parameters<typeof sweepArchives>[0], "archives" | "schedulerCaughtUp" | "archivesInQueue">,
): { stop(): Promise<void> } {
  let first = true;
  const sweep = async () => {
    try {
      const removed = await sweepWorkDir(env.DATASET_WORK_DIR, Date.now() - SCRATCH_STALE_MS);
      if (removed.length) log.info({ removed }, "work dir leftovers removed");
      await sweepArchives(
        { ...deps, graceMs: env.DATASET_ARCHIVE_GRACE, now: () => Date.now(), log },
        { purgeDeleted: first },
      );
      first = false;
    } catch (err) {
      log.error({ err }, "dataset sweep failed; the next one tries again");
    }
  };
  let running: Promise<void> = Promise.resolve();
  let busy = false;
  const run = () => {
    if (busy) return; // a slow sweep is not queued up behind
    busy = true;
    running = sweep().finally(() => (busy = false));
  };
  run();
  const timer = setInterval(run, env.DATASET_SWEEP_INTERVAL);
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
