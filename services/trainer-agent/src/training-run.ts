import { mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { stringify as stringifyYaml } from "yaml";
import {
  SUPERSEDED,
  terminalEventId,
  type JobAssignment,
  type JobEvent,
  type TrainerEvent,
  type TrainerJob,
} from "@trainyard/contracts";
import {
  ack,
  ArchiveError,
  CLASSIC_SPLITS,
  extractZip,
  isTransientNatsError,
  normalisedDataYaml,
  publishOutcome,
  retryLater,
  type Delivery,
  type JobOutcomes,
  type Logger,
  type Outcome,
  type ZipLimits,
} from "@trainyard/runtime";
import type { Checkpoints } from "./adapters/checkpoints.js";
import type { JobFiles } from "./adapters/job-files.js";
import type { TrainerLaunch, TrainerRun } from "./adapters/trainer-process.js";
import { CheckpointUploads, type UploadRate } from "./checkpoint-uploads.js";
import { DATASET_CACHE_DIR } from "./adapters/work-dir.js";
import {
  reportCancelled,
  RunFailure,
  uploadResults,
  type AnnouncedArtifacts,
  type RunProgress,
} from "./job-results.js";
import { epochEvent, PHASE_PERCENT } from "./progress-mapping.js";
import { DISK_HAND_BACK_MS, WORK_FOLDER_FULL, type WorkDisk } from "./work-disk.js";

export interface RunDeps {
  files: JobFiles;
  checkpoints: Checkpoints;
  /** The largest share of training time spent uploading resume checkpoints (1: every epoch). */
  checkpointShare: number;
  /** This agent's measured checkpoint upload speed, shared by its runs. */
  uploadRate: UploadRate;
  /** This agent's id, to recognise an assignment that was moved to another agent meanwhile. */
  agentId: string;
  /**
   * The job's current placement in the scheduler's queue; null once it finished or was cancelled.
   * A run whose placement is no longer this agent's with its attempt was superseded.
   */
  placementOf(jobId: string): Promise<{ agent_id: string; attempt: number } | null>;
  /** Runs of one assignment on this host before a trainer crash (not the job's fault) fails it. */
  maxRunAttempts: number;
  publish: (event: JobEvent, msgId: string) => Promise<void>;
  /** The job-outcomes bucket: a terminal event is published only if this run's claim holds. */
  outcomes: JobOutcomes;
  launch(launch: TrainerLaunch): TrainerRun;
  python: string;
  weightsDir: string | null;
  workDir: string;
  defaultWorkers: number;
  trainerEnv: NodeJS.ProcessEnv;
  /** The operator's archive limits (DATASET_MAX_*), as the dataset service applied them. */
  zipLimits: ZipLimits;
  log: Logger;
  now(): Date;
  /** Aborted when the agent shuts down: running trainers are stopped and their jobs handed back. */
  shutdown: AbortSignal;
  /** The job's cancellation: a signal already aborted, or aborted when the app cancels the job. */
  cancellation(jobId: string): Promise<{ signal: AbortSignal; release(): void }>;
  /**
   * The work folder's room: a run it breaks (full now, or since the run started) is handed back,
   * and its deliveries handed back for it count as no trainer crash. Absent: never full.
   */
  disk?: Pick<WorkDisk, "causedFailure" | "handBacks">;
}

/** The trainer was stopped: the agent is shutting down, or the job was cancelled. */
class Interrupted extends Error {}

/** The trainer died without reporting why (killed, crashed): the host's fault, not the job's. */
class TrainerCrashed extends Error {}

/**
 * The scheduler gave this run up (its agent was silent past the heartbeat's life: stopped,
 * partitioned) and placed the job again, or the job ended meanwhile: this run reports nothing.
 */
class Superseded extends Error {}

const KEEPALIVE_MS = 15_000;
/** How long a job handed back because NATS was unavailable waits before this host runs it again. */
const NATS_HAND_BACK_MS = 5_000;

/**
 * Runs one assigned job to its end: fetch and extract the dataset, spawn the trainer, turn its
 * events into job events, upload the model and artifacts. Every path ends in exactly one
 * terminal event (`completed` or `failed`), after which the assignment is acked.
 */
export async function runAssignment(deps: RunDeps, job: JobAssignment, delivery: Delivery): Promise<Outcome> {
  const log = deps.log.child({ job_id: job.job_id, attempt: job.attempt });
  const placement = await deps.placementOf(job.job_id);
  if (placement?.agent_id !== deps.agentId || placement.attempt !== job.attempt) {
    // this host was given up on (or the job ended) while the assignment waited: not ours to run
    log.warn({ placement }, "stale assignment dropped");
    return ack;
  }
  if (await endedBefore(deps, job, log)) return ack;
  const jobDir = join(deps.workDir, job.job_id);
  const startedAt = deps.now();
  const keepalive = setInterval(() => delivery.working(), KEEPALIVE_MS);
  const state: RunProgress = { phase: "preparing", epoch: null, metrics: null };
  const cancel = await deps.cancellation(job.job_id);
  const stop = AbortSignal.any([deps.shutdown, cancel.signal]);
  try {
    if (cancel.signal.aborted) throw new Interrupted();
    await deps.publish(phase(job, "preparing", PHASE_PERCENT.preparing, startedAt), `${job.job_id}:phase:preparing`);
    const trainerJob = await prepare(deps, job, jobDir, stop);
    trainerJob.resume_from = await checkpointToResume(deps, job, delivery.attempt, jobDir, log);
    if (stop.aborted) throw new Interrupted();
    await train(deps, job, jobDir, trainerJob, startedAt, state, log, stop);
  } catch (err) {
    if (err instanceof Superseded) {
      // another run owns the job now, even its cancellation: it reports, this one keeps quiet
      log.warn({ reason: err.message }, "run superseded: nothing reported");
      return ack;
    }
    // a cancelled job is final even when the agent is also shutting down
    if (cancel.signal.aborted) {
      await reportCancelled(deps, job, jobDir, state, log);
      return ack;
    }
    if (err instanceof Interrupted || deps.shutdown.aborted) {
      log.warn("agent shutting down: job handed back for another run");
      return retryLater(0, "agent shutting down");
    }
    if (isTransientNatsError(err)) {
      // NATS was away for longer than the agent's retries: not the job's fault, so never a
      // failure; this host runs it again from its last checkpoint once NATS answers
      log.warn({ err: String(err) }, "NATS unavailable: job handed back for another run");
      return retryLater(NATS_HAND_BACK_MS, "NATS unavailable");
    }
    if (await deps.disk?.causedFailure(err, startedAt)) {
      // the host's disk, not the job: resumed from its last checkpoint once there is room (the
      // agent takes no new job meanwhile), and never counted as a crash of its trainer
      log.warn({ err: String(err) }, "work folder full: job handed back for another run");
      return retryLater(DISK_HAND_BACK_MS, WORK_FOLDER_FULL);
    }
    const crashes = delivery.attempt - (deps.disk?.handBacks(job) ?? 0);
    if (err instanceof TrainerCrashed && crashes < deps.maxRunAttempts) {
      log.warn({ attempt: delivery.attempt, reason: err.message }, "trainer crashed: job retried from its checkpoint");
      return retryLater(5_000 * crashes, "trainer crashed");
    }
    const failure =
      err instanceof RunFailure
        ? err
        : new RunFailure("UNKNOWN_ERROR", "training agent error", String((err as Error).message ?? err), "training");
    const outcome = await publishOutcome(
      deps.outcomes,
      deps.publish,
      {
        type: "failed",
        job_id: job.job_id,
        at: deps.now().toISOString(),
        error: {
          code: failure.code,
          message: failure.message,
          details: failure.details,
          phase: failure.phase,
          epoch: state.epoch,
        },
        partial_metrics: state.metrics,
      },
      { attempt: job.attempt },
    );
    if (outcome === "cancelled") {
      // the app cancelled the job first (its cancellation may not have reached this agent yet)
      await reportCancelled(deps, job, jobDir, state, log);
      return ack;
    }
    log.error(
      { code: failure.code, err: failure.message, details: failure.details, outcome },
      outcome === "failed"
        ? "job failed"
        : outcome === SUPERSEDED
          ? "run failed after it was superseded: nothing reported"
          : "job failed after it had already ended",
    );
  } finally {
    cancel.release();
    clearInterval(keepalive);
    await rm(join(jobDir, "dataset"), { recursive: true, force: true });
    await rm(join(jobDir, "dataset.zip"), { force: true });
  }
  return ack;
}

async function prepare(deps: RunDeps, job: JobAssignment, jobDir: string, stop: AbortSignal): Promise<TrainerJob> {
  await rm(jobDir, { recursive: true, force: true });
  await mkdir(jobDir, { recursive: true });
  const datasetDir = join(jobDir, "dataset");
  // archives are cached by content digest, beside the job folders: one fetch per host and dataset
  const zip = await deps.files.datasetArchive(
    job.dataset_object,
    job.dataset_sha256,
    join(deps.workDir, DATASET_CACHE_DIR),
  );
  try {
    // a cancel or a shutdown stops a large extraction between entries
    await extractZip(zip, datasetDir, deps.zipLimits, stop);
  } catch (err) {
    if (err instanceof ArchiveError)
      throw new RunFailure(err.code, "dataset archive rejected", err.message, "preparing");
    throw err;
  }
  // The dataset service validated the split folders; this host writes the data.yaml that points at
  // its own extraction (Ultralytics resolves relative paths against its own datasets folder).
  const root = join(datasetDir, job.dataset_root);
  const dataYaml = join(jobDir, "data.yaml");
  const splits = job.dataset_splits ?? CLASSIC_SPLITS;
  await writeFile(dataYaml, stringifyYaml(normalisedDataYaml(root, splits, job.dataset_info.classes)));
  const config = job.model_config;
  return {
    job_id: job.job_id,
    data_yaml: dataYaml,
    run_dir: join(jobDir, "run"),
    base_model: config.base_model,
    weights_dir: deps.weightsDir,
    epochs: config.epochs,
    batch_size: config.batch_size,
    image_size: config.image_size,
    learning_rate: config.learning_rate,
    optimizer: config.optimizer ?? null,
    augmentation: config.augmentation ?? null,
    device: job.slot.device,
    workers: job.resources?.workers ?? deps.defaultWorkers,
    max_memory_gb: job.resources?.max_memory_gb ?? null,
  };
}

async function train(
  deps: RunDeps,
  job: JobAssignment,
  jobDir: string,
  trainerJob: TrainerJob,
  startedAt: Date,
  state: RunProgress,
  log: Logger,
  stop: AbortSignal,
): Promise<void> {
  const jobFile = join(jobDir, "job.json");
  const logFile = join(jobDir, "logs.txt");
  await writeFile(jobFile, JSON.stringify(trainerJob, null, 2));
  const run = deps.launch({ python: deps.python, jobFile, logFile, cwd: jobDir, env: deps.trainerEnv });
  const stopTrainer = () => run.kill();
  stop.addEventListener("abort", stopTrainer, { once: true });
  const artifacts: AnnouncedArtifacts = new Map();
  // Before each report and upload: a run that was replaced (its agent stopped or partitioned
  // long enough) must add nothing to what the app sees, nor to what the new run resumes from.
  const ensureCurrent = () => stillCurrent(deps, job);
  // paced by their cost, so another host can resume from a recent epoch if this one dies
  const checkpoints = new CheckpointUploads({
    share: deps.checkpointShare,
    rate: deps.uploadRate,
    ensureCurrent,
    upload: (path) => deps.files.uploadArtifact(deps.checkpoints.objectName(job.job_id, job.attempt), path),
    sizeOf: async (path) => (await stat(path)).size,
    now: () => deps.now().getTime(),
    uploaded: (epoch, bytes, ms) => log.info({ epoch, bytes, ms }, "checkpoint uploaded"),
  });
  let terminal: Extract<TrainerEvent, { type: "done" | "error" }> | null = null;
  try {
    for await (const event of run.events) {
      switch (event.type) {
        case "phase":
          if (event.phase === "preparing") {
            log.info({ model: event.model, source: event.model_source }, "model resolved");
          } else if (event.phase === "training") {
            state.phase = "training";
            const { start_epoch, total_epochs, resumed, batch_size, image_size, device } = event;
            log.info({ start_epoch, total_epochs, resumed, batch_size, image_size, device }, "training started");
            checkpoints.trainingStarted();
          } else {
            state.phase = "validating";
            await checkpoints.trainingEnded();
            await ensureCurrent();
            await deps.publish(
              phase(job, "validating", PHASE_PERCENT.validating, deps.now()),
              `${job.job_id}:phase:validating`,
            );
            log.info("final validation started");
          }
          break;
        case "epoch":
          state.epoch = event.epoch;
          state.metrics = event.metrics;
          await ensureCurrent();
          await deps.publish(epochEvent(job.job_id, event, deps.now()), `${job.job_id}:epoch:${event.epoch}`);
          await checkpoints.reported(event.epoch);
          break;
        case "artifact":
          if (event.name === "last.pt") {
            await checkpoints.offer({ path: event.path, epoch: event.epoch ?? Number.MAX_SAFE_INTEGER });
          } else {
            artifacts.set(event.name, event.path);
          }
          break;
        case "log":
          log[event.level === "warning" ? "warn" : event.level]({ source: "trainer" }, event.message);
          break;
        case "done":
        case "error":
          terminal = event;
          break;
      }
    }
  } catch (err) {
    run.kill();
    throw err;
  }
  const exit = await run.exited;
  stop.removeEventListener("abort", stopTrainer);
  // A job handed back (the agent or its host stopping, the trainer crashing) resumes from the
  // newest reported epoch, whatever the pace; a cancelled or failed job needs no checkpoint.
  const cancelled = stop.aborted && !deps.shutdown.aborted;
  const stopped = terminal === null || (terminal.type === "error" && terminal.code === "CANCELLED");
  if (stopped && !cancelled) await checkpoints.flush();
  if (terminal?.type === "error" && terminal.code === "CANCELLED") {
    // the trainer's own account of where it stopped: the last finished epoch's metrics
    state.metrics = terminal.partial_metrics ?? state.metrics;
    // a SIGTERM the agent did not send (its host is stopping) hands the job back like a shutdown
    throw new Interrupted();
  }
  if (stop.aborted && terminal?.type !== "done") throw new Interrupted();
  if (terminal?.type === "error") {
    throw new RunFailure(terminal.code, terminal.message, terminal.details, terminal.phase);
  }
  if (!terminal && exit.signal !== null) {
    throw new TrainerCrashed(`trainer ended by ${exit.signal} without reporting an error`);
  }
  // the last checkpoint upload ends before the results' (a failed one hands the job back)
  await checkpoints.settle();
  // A trainer killed by a signal after it reported `done` had finished: its results stand
  // (chaos seed 8). A non-zero exit after `done`, though, says something went wrong in it.
  if (!terminal || (exit.code !== 0 && exit.signal === null)) {
    const tail = (await readFile(logFile, "utf8").catch(() => "")).slice(-800);
    throw new RunFailure(
      "UNKNOWN_ERROR",
      "trainer exited unexpectedly",
      `exit ${exit.code ?? exit.signal}; log tail: ${tail}`,
      "training",
    );
  }
  // into this run's own folder: should the run have been replaced meanwhile, its claim below
  // fails and these files are never named by any event
  log.info("uploading the model and artifacts");
  const uploaded = await uploadResults(deps, { jobId: job.job_id, attempt: job.attempt }, terminal, artifacts, logFile);
  const finishedAt = deps.now();
  const outcome = await publishOutcome(
    deps.outcomes,
    deps.publish,
    {
      type: "completed",
      job_id: job.job_id,
      at: finishedAt.toISOString(),
      started_at: startedAt.toISOString(),
      duration_seconds: Math.round((finishedAt.getTime() - startedAt.getTime()) / 100) / 10,
      model: { name: job.model_config.name, object_name: uploaded.model, size_bytes: uploaded.modelBytes },
      final_metrics: terminal.final_metrics,
      artifacts: uploaded.artifacts,
      dataset_info: job.dataset_info,
    },
    { attempt: job.attempt },
  );
  // the claim is the last word: a run replaced between the check above and its claim is fenced out
  if (outcome === SUPERSEDED) throw new Superseded("another run ended the job first");
  if (outcome === "cancelled") {
    // a DELETE answered 200 while the trainer was finishing: the job ends cancelled, as the app was told
    await reportCancelled(deps, job, jobDir, state, log);
    return;
  }
  const durationMs = finishedAt.getTime() - startedAt.getTime();
  if (outcome === "completed") log.info({ duration_ms: durationMs }, "job completed");
  else log.warn({ duration_ms: durationMs, outcome }, "job finished training after it had already ended");
}

function phase(job: JobAssignment, name: "preparing" | "validating", percentage: number, at: Date): JobEvent {
  return {
    type: "phase",
    job_id: job.job_id,
    at: at.toISOString(),
    phase: name,
    percentage,
    total_epochs: job.model_config.epochs,
  };
}

/**
 * Throws Superseded unless the scheduler's queue still places the job on this agent with this
 * run's attempt (the scheduler moved it after this agent's heartbeat expired, or it ended).
 */
async function stillCurrent(deps: RunDeps, job: JobAssignment): Promise<void> {
  const placement = await deps.placementOf(job.job_id);
  if (placement?.agent_id === deps.agentId && placement.attempt === job.attempt) return;
  throw new Superseded(
    placement ? `the job runs as attempt ${placement.attempt} on ${placement.agent_id}` : "the job left the queue",
  );
}

/**
 * Whether the job's outcome was claimed before this run started, so there is nothing to train:
 * an agent that claimed it may have died before publishing its terminal event, which this run
 * then publishes (the terminal message id makes it a no-op where it was); an outcome the gateway
 * (a cancellation: reported by the usual path below), the dataset service or the scheduler claimed
 * is theirs to report. A fence past this run supersedes it.
 */
async function endedBefore(deps: RunDeps, job: JobAssignment, log: Logger): Promise<boolean> {
  const record = await deps.outcomes.read(job.job_id);
  if (!record) return false;
  if (record.fence && record.fence > job.attempt) {
    log.warn({ fence: record.fence }, "run superseded before it started: nothing reported");
    return true;
  }
  if (record.event) {
    await deps.publish(record.event, terminalEventId(job.job_id));
    log.warn(
      { outcome: record.outcome, claimed_by: record.attempt },
      "the job's outcome was claimed by a run that may not have published it: its terminal event published",
    );
    return true;
  }
  if (record.outcome && record.outcome !== "cancelled") {
    log.info({ outcome: record.outcome }, "the job had already ended: nothing to run");
    return true;
  }
  return false;
}

/**
 * The checkpoint a run starts from: when this host retries its run after a crash, the one this
 * run uploaded last; otherwise the one the scheduler named (the last checkpoint of the run it
 * replaced). None for a first run.
 */
async function checkpointToResume(
  deps: RunDeps,
  job: JobAssignment,
  runAttempt: number,
  jobDir: string,
  log: Logger,
): Promise<string | null> {
  const name = (runAttempt > 1 ? await deps.checkpoints.latest(job.job_id, job.attempt) : null) ?? job.resume_from;
  if (!name) return null;
  const target = join(jobDir, "resume-last.pt");
  try {
    await deps.checkpoints.fetch(name, target);
    log.info({ checkpoint: name }, "resuming from checkpoint");
    return target;
  } catch (err) {
    // the checkpoint is there but NATS is not: hand the job back rather than retrain from scratch
    if (isTransientNatsError(err)) throw err;
    log.warn({ checkpoint: name, err: String(err) }, "checkpoint unavailable: training from the start");
    return null;
  }
}
