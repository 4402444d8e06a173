import { jetstream } from "@nats-io/jetstream";
import { Bucket, Consumer, Subject, TRAIN_STREAM, TrainRequested } from "@trainyard/contracts";
import {
  connectNats,
  natsAuth,
  ensureConsumer,
  ensureStreams,
  guardedAgent,
  openObjectStore,
  publishJobEvent,
  publishJson,
  startConsumer,
  type Logger,
  openCancellations,
  openJobOutcomes,
} from "@trainyard/runtime";
import { downloadArchive } from "./adapters/download.js";
import { objectDatasetStore } from "./adapters/dataset-store.js";
import { ArchiveTree } from "./archive-tree.js";
import { intakeDataset } from "./dataset-intake.js";
import type { Env } from "./env.js";
import { validateYoloDataset } from "./yolo-layout.js";

/** The consumer's ack wait; intake sends in-progress acks well within it. */
const ACK_WAIT_MS = 60_000;
/** Jobs one instance works on at once; each is mostly waiting on the network or the disk. */
const JOBS_IN_FLIGHT = 4;

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
  const datasets = await openObjectStore(nc, Bucket.datasets);
  const cancellations = await openCancellations(nc);
  const outcomes = await openJobOutcomes(nc);
  const policy = { allowPrivate: env.OUTBOUND_ALLOW_PRIVATE, ...env.OUTBOUND_ALLOW_LIST };
  const dispatcher = guardedAgent(policy, { connect: { timeout: env.DATASET_CONNECT_TIMEOUT_MS } });
  const store = objectDatasetStore(datasets);
  const limits = {
    maxEntries: env.DATASET_MAX_ENTRIES,
    maxTotalBytes: env.DATASET_MAX_EXTRACTED_BYTES,
    maxRatio: env.DATASET_MAX_COMPRESSION_RATIO,
  };
  const stopping = new AbortController();
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
        store,
        publishJobEvent: (event, msgId) => publishJobEvent(js, event, msgId),
        outcomes,
        isCancelled: (jobId) => cancellations.isCancelled(jobId),
        watchCancellation(jobId) {
          const cancelSwitch = new AbortController();
          cancelSwitches.set(jobId, cancelSwitch);
          const release = () => {
            // a redelivery of the same job may have put its own switch since
            if (cancelSwitches.get(jobId) === cancelSwitch) cancelSwitches.delete(jobId);
          };
          return { signal: cancelSwitch.signal, release };
        },
        publishDatasetReady: (ready, msgId) => publishJson(js, Subject.datasetReady, ready, msgId),
        log,
        workingIntervalMs: ACK_WAIT_MS / 4,
      }),
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
      await consumer.stop();
      cancelWatch.stop();
      await nc.drain();
      await dispatcher.close();
    },
  };
}
