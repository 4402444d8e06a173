import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import { DatasetReady, terminalEventId, type JobEvent, type TrainRequested } from "@trainyard/contracts";
import { ack, ArchiveError, retryLater, type Delivery, type Logger, type Outcome } from "@trainyard/runtime";
import { DatasetError } from "./dataset-error.js";
import type { DownloadedArchive } from "./adapters/download.js";
import type { ValidatedDataset } from "./yolo-layout.js";

/** Percentage of the `downloading` phase event (architecture: progress mapping). */
export const DOWNLOADING_PERCENTAGE = 5;

export interface IntakeDeps {
  /** Scratch space; each delivery works in its own folder under it, removed afterwards. */
  workDir: string;
  download(url: string, destFile: string): Promise<DownloadedArchive>;
  /** Extracts with the zip guard; an ArchiveError says corrupted or invalid. */
  extract(zipFile: string, destDir: string): Promise<unknown>;
  validate(dir: string, expectedStructure?: Record<string, boolean>): Promise<ValidatedDataset>;
  /** Stores the original archive as `objectName`; throws when the store is unavailable. */
  store(objectName: string, zipFile: string, sha256: string): Promise<void>;
  publishJobEvent(event: JobEvent, msgId: string): Promise<void>;
  /** True once the job was cancelled (the gateway already told the app). */
  isCancelled(jobId: string): Promise<boolean>;
  publishDatasetReady(ready: DatasetReady, msgId: string): Promise<void>;
  log: Logger;
  now?: () => Date;
  /** Deliveries a retryable download failure (5xx, reset connection) gets before the job fails. */
  downloadAttempts?: number;
  /** How often to tell JetStream the job is still being worked on; well under the consumer's ack wait. */
  workingIntervalMs?: number;
}

/**
 * Phase 1 of a job (PRD 3.2): download, extract, validate and store the dataset, then hand the
 * job to the scheduler. A bad dataset is final: the job fails and the message is acked.
 * Infrastructure errors (object store, NATS) throw, so the consumer redelivers; every publish
 * carries a msg id derived from the job, so a redelivery after a partial run publishes nothing twice.
 */
export async function intakeDataset(
  request: TrainRequested,
  delivery: Pick<Delivery, "attempt" | "working">,
  deps: IntakeDeps,
): Promise<Outcome> {
  const jobId = request.job_id;
  const log = deps.log.child({ job_id: jobId });
  if (await deps.isCancelled(jobId)) {
    log.info("job was cancelled before its dataset was fetched");
    return ack;
  }
  const now = deps.now ?? (() => new Date());
  await mkdir(deps.workDir, { recursive: true });
  const scratch = await mkdtemp(join(deps.workDir, `${jobId}-`));
  const heartbeat = setInterval(() => {
    try {
      delivery.working();
    } catch (err) {
      // the connection is closing; if the ack deadline passes, JetStream redelivers the job
      log.warn({ err }, "in-progress ack failed");
    }
  }, deps.workingIntervalMs ?? 15_000);
  try {
    const zipFile = join(scratch, "dataset.zip");
    const archive = await deps.download(request.dataset.url, zipFile);
    log.info({ bytes: archive.bytes, sha256: archive.sha256 }, "dataset downloaded");
    const extracted = join(scratch, "extracted");
    await extractArchive(deps, zipFile, extracted);
    const { root, info } = await deps.validate(extracted, request.dataset.expected_structure);
    const objectName = `${jobId}.zip`;
    await deps.store(objectName, zipFile, archive.sha256);
    if (await deps.isCancelled(jobId)) {
      log.info("job was cancelled while its dataset was fetched");
      return ack;
    }
    await deps.publishJobEvent(
      {
        type: "phase",
        job_id: jobId,
        at: now().toISOString(),
        phase: "downloading",
        percentage: DOWNLOADING_PERCENTAGE,
        total_epochs: request.model_config.epochs,
        dataset_info: info,
      },
      `${jobId}:phase-downloading`,
    );
    const ready = DatasetReady.parse({
      ...request,
      dataset_object: objectName,
      // agents extract the same archive, so they find data.yaml here without searching again
      dataset_root: relative(extracted, root).split(sep).join("/"),
      dataset_sha256: archive.sha256,
      dataset_info: info,
    });
    await deps.publishDatasetReady(ready, `${jobId}:dataset-ready`);
    log.info({ object: objectName, images: info.total_images, classes: info.classes.length }, "dataset ready");
    return ack;
  } catch (err) {
    if (!(err instanceof DatasetError)) throw err;
    const attempts = deps.downloadAttempts ?? 3;
    if (err.retryable && delivery.attempt < attempts) {
      log.warn({ attempt: delivery.attempt, reason: err.message }, "dataset download failed, will retry");
      return retryLater(Math.min(60_000, 5_000 * 2 ** (delivery.attempt - 1)), err.message);
    }
    await deps.publishJobEvent(failedEvent(jobId, err, now()), terminalEventId(jobId));
    log.warn({ code: err.code, reason: err.message }, "dataset refused, job failed");
    return ack;
  } finally {
    clearInterval(heartbeat);
    await rm(scratch, { recursive: true, force: true });
  }
}

async function extractArchive(deps: IntakeDeps, zipFile: string, dest: string): Promise<void> {
  try {
    await deps.extract(zipFile, dest);
  } catch (err) {
    if (err instanceof ArchiveError) throw new DatasetError(err.code, err.message);
    throw err;
  }
}

function failedEvent(jobId: string, err: DatasetError, at: Date): JobEvent {
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
