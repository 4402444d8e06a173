import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import {
  DatasetReady,
  type DatasetInfo,
  type JobEvent,
  type JobEventOf,
  type TrainRequested,
} from "@trainyard/contracts";
import {
  ack,
  ArchiveError,
  publishOutcome,
  retryLater,
  type Delivery,
  type JobOutcomes,
  type Logger,
  type Outcome,
} from "@trainyard/runtime";
import { DatasetError } from "./dataset-error.js";
import { LOCAL_DISK_RETRY_MS, localDiskError } from "./local-disk.js";
import type { DownloadedArchive } from "./adapters/download.js";
import { touchScratch } from "./adapters/work-dir.js";
import { VALIDATION_VERSION, type DatasetStore, type ValidationRecord } from "./adapters/dataset-store.js";
import { downloadProgress, type DownloadStep } from "./download-progress.js";
import type { DatasetTree } from "./dataset-tree.js";
import type { ValidatedDataset, ValidationOptions } from "./yolo-layout.js";

/** Percentage of the `downloading` phase event once the dataset is validated (architecture: progress mapping). */
export const DOWNLOADING_PERCENTAGE = 5;

export interface IntakeDeps {
  /** Scratch space; each delivery works in its own folder under it, removed afterwards. */
  workDir: string;
  /**
   * Downloads into `destFile`, reporting bytes as they arrive; throws DatasetError, or
   * DownloadInterrupted once `signal` aborts (the job was cancelled) or the service stops.
   */
  download(
    url: string,
    destFile: string,
    onProgress: (bytes: number, total: number | null) => void,
    signal: AbortSignal,
  ): Promise<DownloadedArchive>;
  /**
   * Checks the archive with the zip guard without extracting it (agents extract it on their own
   * hosts) and returns what validation reads; an ArchiveError says corrupted or invalid. Stops
   * between entries once `signal` aborts (the job was cancelled), rejecting with its reason.
   */
  inspect(zipFile: string, signal: AbortSignal): Promise<DatasetTree>;
  validate(tree: DatasetTree, options: ValidationOptions): Promise<ValidatedDataset>;
  /** Accept what Ultralytics would only warn about, as warnings (DATASET_LENIENT_VALIDATION). */
  lenient: boolean;
  store: DatasetStore;
  publishJobEvent: (event: JobEvent, msgId: string) => Promise<void>;
  /** The job-outcomes bucket: a failure is published only if it is the job's outcome. */
  outcomes: JobOutcomes;
  /** True once the job was cancelled (the gateway already told the app). */
  isCancelled(jobId: string): Promise<boolean>;
  /** A signal aborted when the job is cancelled from now on; `release` once its intake has ended. */
  watchCancellation(jobId: string): { signal: AbortSignal; release(): void };
  publishDatasetReady(ready: DatasetReady, msgId: string): Promise<void>;
  log: Logger;
  now?: () => Date;
  /** How often to tell JetStream the job is still being worked on; well under the consumer's ack wait. */
  workingIntervalMs?: number;
}

/**
 * Phase 1 of a job (PRD 3.2): download, check (every entry inflated, never written out) and
 * validate the dataset, store it, then hand the job to the scheduler. A bad dataset is final: the job fails and the message is acked.
 * Archives are stored by content digest with what validating them established, so an archive
 * submitted again is neither inspected nor validated again. Infrastructure errors (object store,
 * NATS) throw, so the consumer redelivers, and a local disk error (full, read-only) is retried
 * later the same way, never reported as the dataset's fault; every publish carries a msg id derived
 * from the job, so a redelivery after a partial run publishes nothing twice. A cancelled job
 * (PRD 17.4) stops its download at once and is acked without another event: the gateway already
 * sent its terminal CANCELLED, and it never reaches the scheduler.
 */
export async function intakeDataset(
  request: TrainRequested,
  delivery: Pick<Delivery, "working">,
  deps: IntakeDeps,
): Promise<Outcome> {
  const jobId = request.job_id;
  const log = deps.log.child({ job_id: jobId });
  // watched before the first check, so a cancellation in between is not missed
  const cancel = deps.watchCancellation(jobId);
  try {
    if (await deps.isCancelled(jobId)) {
      log.info("job was cancelled before its dataset was fetched");
      return ack;
    }
    return await fetchAndValidate(request, delivery, deps, cancel.signal, log);
  } finally {
    cancel.release();
  }
}

async function fetchAndValidate(
  request: TrainRequested,
  delivery: Pick<Delivery, "working">,
  deps: IntakeDeps,
  cancelled: AbortSignal,
  log: Logger,
): Promise<Outcome> {
  const jobId = request.job_id;
  const now = deps.now ?? (() => new Date());
  await mkdir(deps.workDir, { recursive: true });
  const scratch = await mkdtemp(join(deps.workDir, `${jobId}-`));
  const heartbeat = setInterval(() => {
    // a work-dir sweep (this replica's or another's) leaves a folder in use alone
    touchScratch(scratch).catch((err: unknown) => log.warn({ err }, "scratch folder not touched"));
    try {
      delivery.working();
    } catch (err) {
      // the connection is closing; if the ack deadline passes, JetStream redelivers the job
      log.warn({ err }, "in-progress ack failed");
    }
  }, deps.workingIntervalMs ?? 15_000);
  const progress = progressPublisher(request, deps, now, log);
  try {
    const zipFile = join(scratch, "dataset.zip");
    const archive = await deps.download(request.dataset.url, zipFile, progress.onBytes, cancelled);
    log.info({ bytes: archive.bytes, sha256: archive.sha256 }, "dataset downloaded");
    let record = await reusableRecord(deps, request, archive.sha256);
    if (record) {
      log.info({ sha256: archive.sha256 }, "archive validated before: not inspected again");
    } else {
      const tree = await inspectArchive(deps, zipFile, cancelled);
      const validated = await deps.validate(tree, {
        ...(request.dataset.expected_structure ? { expectedStructure: request.dataset.expected_structure } : {}),
        lenient: deps.lenient,
      });
      record = {
        version: VALIDATION_VERSION,
        root: validated.root,
        splits: validated.splits,
        info: validated.info,
        warnings: validated.warnings,
      };
    }
    const objectName = await deps.store.storeValidated(zipFile, archive.sha256, record);
    await progress.settled();
    if (cancelled.aborted || (await deps.isCancelled(jobId))) {
      log.info("job was cancelled while its dataset was fetched");
      return ack;
    }
    const warnings = record.warnings.length ? { dataset_warnings: record.warnings } : {};
    await deps.publishJobEvent(
      {
        type: "phase",
        job_id: jobId,
        at: now().toISOString(),
        phase: "downloading",
        percentage: DOWNLOADING_PERCENTAGE,
        total_epochs: request.model_config.epochs,
        dataset_info: record.info,
        bytes_downloaded: archive.bytes,
        bytes_total: archive.bytes,
        ...warnings,
      },
      `${jobId}:phase-downloading`,
    );
    const ready = DatasetReady.parse({
      ...request,
      dataset_object: objectName,
      // agents extract the same archive, so they find data.yaml here without searching again
      dataset_root: record.root,
      dataset_sha256: archive.sha256,
      dataset_info: record.info,
      dataset_splits: record.splits,
      ...warnings,
    });
    await deps.publishDatasetReady(ready, `${jobId}:dataset-ready`);
    logReady(log, objectName, record.info, record.warnings);
    return ack;
  } catch (err) {
    await progress.settled();
    // the gateway already sent the job's terminal CANCELLED: nothing to report, nothing to retry
    if (cancelled.aborted) {
      log.info({ reason: (err as Error).message }, "job cancelled during its intake: download or inspection stopped");
      return ack;
    }
    const disk = localDiskError(err);
    if (disk) {
      // the platform's disk, never the app's dataset: nothing reported, the message comes again
      log.warn({ code: disk.code, err: disk.message }, "dataset work folder unusable: intake retried later");
      return retryLater(LOCAL_DISK_RETRY_MS, `local disk: ${disk.code}`);
    }
    if (!(err instanceof DatasetError)) throw err;
    const outcome = await publishOutcome(deps.outcomes, deps.publishJobEvent, failedEvent(jobId, err, now()));
    if (outcome === "failed") log.warn({ code: err.code, reason: err.message }, "dataset refused, job failed");
    // the gateway cancelled it first and told the app so
    else log.info({ code: err.code, outcome }, "dataset refused after the job had ended: nothing reported");
    return ack;
  } finally {
    clearInterval(heartbeat);
    await rm(scratch, { recursive: true, force: true });
  }
}

/**
 * The stored record of this archive when it can stand for validating it now: same rules, no
 * warnings unless lenient, and no expected_structure paths beyond what the record covers.
 */
async function reusableRecord(
  deps: IntakeDeps,
  request: TrainRequested,
  sha256: string,
): Promise<ValidationRecord | null> {
  const extraPaths = Object.entries(request.dataset.expected_structure ?? {}).some(
    ([path, required]) => required && !/^(data\.yaml|(images|labels)\/(train|val))\/?$/.test(path),
  );
  if (extraPaths) return null;
  const record = await deps.store.findValidated(sha256);
  if (!record || (record.warnings.length > 0 && !deps.lenient)) return null;
  return record;
}

/** Publishes download progress in order and off the download's path; a lost progress event is only logged. */
function progressPublisher(request: TrainRequested, deps: IntakeDeps, now: () => Date, log: Logger) {
  let chain = Promise.resolve();
  const publish = (step: DownloadStep) => {
    const event: JobEvent = {
      type: "phase",
      job_id: request.job_id,
      at: now().toISOString(),
      phase: "downloading",
      percentage: step.percentage,
      total_epochs: request.model_config.epochs,
      bytes_downloaded: step.bytes,
      bytes_total: step.total,
    };
    chain = chain
      .then(() => deps.publishJobEvent(event, `${request.job_id}:phase-downloading:${step.step}`))
      .catch((err: unknown) => log.warn({ err, step: step.step }, "download progress event not published"));
  };
  return { onBytes: downloadProgress(publish), settled: () => chain };
}

async function inspectArchive(deps: IntakeDeps, zipFile: string, cancelled: AbortSignal): Promise<DatasetTree> {
  try {
    return await deps.inspect(zipFile, cancelled);
  } catch (err) {
    if (err instanceof ArchiveError) throw new DatasetError(err.code, err.message, archiveDetails(err));
    throw err;
  }
}

function archiveDetails(err: ArchiveError): string {
  return err.code === "DATASET_CORRUPTED"
    ? "The dataset archive is damaged, truncated, not a zip file, or expands far beyond its size. Please re-create the zip archive (standard Deflate compression, no password) and upload it again."
    : "The dataset archive holds entries this service refuses (links, absolute or '..' paths, duplicate names, encryption or unusual compression). Please re-create the archive from a plain folder with a standard zip tool.";
}

function logReady(log: Logger, objectName: string, info: DatasetInfo, warnings: string[]): void {
  const fields = { object: objectName, images: info.total_images, classes: info.classes.length };
  if (warnings.length)
    log.warn({ ...fields, warnings: warnings.length }, "dataset ready, with problems accepted as warnings");
  else log.info(fields, "dataset ready");
}

function failedEvent(jobId: string, err: DatasetError, at: Date): JobEventOf<"failed"> {
  return {
    type: "failed",
    job_id: jobId,
    at: at.toISOString(),
    error: {
      code: err.code,
      message: err.message,
      details: err.details,
      phase: err.code === "DATASET_DOWNLOAD_FAILED" ? "dataset_download" : "dataset_validation",
      epoch: null,
    },
    partial_metrics: null,
  };
}
