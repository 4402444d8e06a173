import { link, rm } from "node:fs/promises";
import { dirname, join } from "node:path";

/**
 * When a run uploads its resume checkpoint, and the uploads themselves, off the trainer's path.
 *
 * A checkpoint is a whole model with its optimizer state (tens of MB for the small YOLO models,
 * hundreds for the large ones). Uploaded after every epoch, the upload and its replication by
 * every NATS node compete with the training for the host: 13.5 % of a short job's wall time with
 * a co-located 3-node cluster (docs/benchmarks.md). So uploads are paced by their own measured
 * cost: a checkpoint is uploaded once the training time since the last upload is at least
 * `(1 - share) / share` times what that upload took, which keeps uploading under `share` of the
 * training time. With `share = 1` every epoch's checkpoint is uploaded.
 *
 * What a lost host costs stays bounded: the training since the last upload, at most
 * `(1 - share) / share` times one upload's duration, plus the epoch under way and the upload in
 * flight. A graceful hand-back (the agent stopping, the trainer crashing) first uploads the
 * newest reported checkpoint, so it loses only the epoch under way.
 */
export interface PaceInput {
  /** The largest share of training time spent uploading checkpoints, in (0, 1]. */
  share: number;
  /** Milliseconds since the run's last upload ended (or since its training started). */
  sinceLastMs: number;
  /** How long this upload is expected to take, or null when this agent has not measured one yet. */
  expectedMs: number | null;
}

/** True when a checkpoint should be uploaded now. An agent's first upload is always due: it measures. */
export function uploadDue({ share, sinceLastMs, expectedMs }: PaceInput): boolean {
  if (expectedMs === null || share >= 1) return true;
  return sinceLastMs >= (expectedMs * (1 - share)) / share;
}

/**
 * How fast this agent's checkpoint uploads go, from the last one (of any run): the expected
 * duration of the next upload scales with its size. Shared by the runs of one agent, so a job's
 * first checkpoint is paced by what the previous job measured.
 */
export class UploadRate {
  private msPerByte: number | null = null;

  expectedMs(bytes: number): number | null {
    return this.msPerByte === null ? null : this.msPerByte * bytes;
  }

  record(bytes: number, ms: number): void {
    if (bytes > 0) this.msPerByte = Math.max(ms, 1) / bytes;
  }
}

export interface Checkpoint {
  path: string;
  /** The epochs it holds. */
  epoch: number;
}

export interface CheckpointUploadDeps {
  share: number;
  rate: UploadRate;
  /** Checks the run is still current before an upload (throws when it was superseded). */
  ensureCurrent(): Promise<void>;
  /** Uploads `path` as the run's checkpoint; resolves to its size in bytes. */
  upload(path: string): Promise<number>;
  sizeOf(path: string): Promise<number>;
  now(): number;
  /** Told of each upload that ended: the epochs it holds, its size and how long it took. */
  uploaded?(epoch: number, bytes: number, ms: number): void;
}

/**
 * The checkpoint uploads of one run. The trainer announces each checkpoint (`offer`) and each
 * reported epoch (`reported`); a checkpoint is uploaded only once its epoch was reported (a run
 * resumed from it never reports that epoch again, so one ahead of the reports would lose an epoch
 * for the app), when the pace allows, one upload at a time, in the background. The file uploaded
 * is a hard link taken when the upload starts: the trainer replaces the checkpoint's path every
 * epoch, and a retried upload must send the epoch that was decided on, never a later one. So a
 * decision is taken only just after the trainer's own report (it then trains a whole epoch before
 * replacing the file) or once its training is over (nothing replaces it any more): a checkpoint
 * that came while an upload was in flight is looked at again when the next epoch is reported, or,
 * after the last epoch, as soon as that upload ends.
 */
export class CheckpointUploads {
  private latest: Checkpoint | null = null;
  private reportedEpoch = 0;
  private uploadedEpoch = 0;
  private lastEndedAt: number;
  private inFlight: Promise<void> | null = null;
  private failure: { error: unknown } | null = null;
  private linkCount = 0;
  private trainingOver = false;

  constructor(private readonly deps: CheckpointUploadDeps) {
    this.lastEndedAt = deps.now();
  }

  /** The training starts (or resumes) now: the pace counts training time from here. */
  trainingStarted(): void {
    this.lastEndedAt = this.deps.now();
  }

  /** The training is over (the final validation starts): the newest checkpoint changes no more. */
  trainingEnded(): Promise<void> {
    this.trainingOver = true;
    return this.consider(false);
  }

  /** The epochs held by the run's last uploaded checkpoint (0 when none was uploaded). */
  get uploaded(): number {
    return this.uploadedEpoch;
  }

  offer(checkpoint: Checkpoint): Promise<void> {
    this.latest = checkpoint;
    return this.consider(false);
  }

  reported(epoch: number): Promise<void> {
    this.reportedEpoch = Math.max(this.reportedEpoch, epoch);
    return this.consider(false);
  }

  /** Uploads the newest reported checkpoint, if newer than the last uploaded, whatever the pace. */
  async flush(): Promise<void> {
    await this.settle();
    await this.consider(true);
    await this.settle();
  }

  /** Waits for the uploads in flight; rethrows the error of a failed background upload. */
  async settle(): Promise<void> {
    while (this.inFlight) await this.inFlight;
    this.rethrow();
  }

  private rethrow(): void {
    if (this.failure) throw this.failure.error;
  }

  /** Starts an upload when one is due; throws a background upload's earlier failure. */
  private async consider(force: boolean): Promise<void> {
    this.rethrow();
    const checkpoint = this.latest;
    if (this.inFlight || !checkpoint) return;
    if (checkpoint.epoch > this.reportedEpoch || checkpoint.epoch <= this.uploadedEpoch) return;
    const size = await this.deps.sizeOf(checkpoint.path);
    const due =
      force ||
      uploadDue({
        share: this.deps.share,
        sinceLastMs: this.deps.now() - this.lastEndedAt,
        expectedMs: this.deps.rate.expectedMs(size),
      });
    if (!due) return;
    // taken now, before anything else runs: the path may name the next epoch's checkpoint soon
    const pinned = join(dirname(checkpoint.path), `.upload-${process.pid}-${this.linkCount++}.pt`);
    await link(checkpoint.path, pinned);
    this.inFlight = this.uploadPinned(pinned, checkpoint.epoch)
      .then(() => {
        this.inFlight = null;
        // a newer checkpoint that came meanwhile, once the training is over, goes now when due
        if (this.trainingOver) return this.consider(false);
      })
      .catch((error: unknown) => {
        this.inFlight = null;
        this.failure ??= { error };
      });
  }

  private async uploadPinned(pinned: string, epoch: number): Promise<void> {
    try {
      await this.deps.ensureCurrent();
      const started = this.deps.now();
      const bytes = await this.deps.upload(pinned);
      const ended = this.deps.now();
      this.deps.rate.record(bytes, ended - started);
      this.uploadedEpoch = epoch;
      this.lastEndedAt = ended;
      this.deps.uploaded?.(epoch, bytes, ended - started);
    } catch (error) {
      this.failure = { error };
    } finally {
      await rm(pinned, { force: true });
    }
  }
}
