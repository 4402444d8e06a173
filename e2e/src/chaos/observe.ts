/**
 * What a settled chaos run left behind, read through every view there is: the callbacks the app
 * received, the REST API, the dashboard's projection, the JOB_EVENTS stream itself, a projection
 * rebuilt from the streams by a dashboard started on an empty database, the downloaded models,
 * and the processes and files still on the machine.
 */
import { createHash } from "node:crypto";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import {
  Bucket,
  Consumer,
  JOB_EVENTS_STREAM,
  JOBS_COLLECTION,
  PROJECTION_DB,
  Subject,
  TRAIN_STREAM,
  type Callback,
} from "@trainyard/contracts";
import { connectNats, ensureStreams } from "@trainyard/runtime";
import { MongoClient } from "mongodb";
import { trainersUnder } from "./faults.js";
import type { ChaosWorld } from "./world.js";

const EPOCHS_COLLECTION = "job_epochs";
const TERMINAL = new Set(["completed", "failed", "cancelled"]);

/** A callback as the app saw it, with the Standard Webhooks message id it came with. */
export interface SeenCallback {
  webhookId: string;
  body: Callback;
  /** When it arrived (epoch ms). */
  at: number;
}

export interface JobState {
  jobId: string;
  /** Every verified callback of the job in arrival order, redeliveries included. */
  callbacks: SeenCallback[];
  rest: string | null;
  dashboard: string | null;
  rebuilt: string | null;
  /** The job's terminal events in JOB_EVENTS: `completed` / `failed` message counts, and the status the first implies. */
  stream: { completed: number; failed: number; status: string | null };
  /** The model object the `completed` event names (`<job>/best.pt`, or `<job>/attempt-<n>/best.pt`). */
  modelObject: string | null;
  /** The run (attempt) the job-outcomes record says claimed the outcome; null when it names none. */
  outcomeAttempt: number | null;
  /** sha256 of the model the completed callback's URL serves; null when there is none or it failed. */
  modelSha256: string | null;
  modelError: string | null;
}

export interface Leftovers {
  /** Trainer processes still running under the run's folder: `pid job`. */
  trainers: string[];
  /** Temporary files of finished jobs: dataset extractions and archives, partial downloads, scratch folders. */
  files: string[];
}

/** Status a terminal callback stands for. */
export function callbackStatus(c: Callback | undefined): string | null {
  if (!c || c.type === "training_progress") return null;
  if (c.type === "training_completed") return "completed";
  return c.error.code === "CANCELLED" ? "cancelled" : "failed";
}

/** The verified callbacks of each job, in arrival order. */
export function callbacksByJob(world: ChaosWorld): Map<string, SeenCallback[]> {
  const byJob = new Map<string, SeenCallback[]>();
  for (const c of world.receiver.received) {
    const list = byJob.get(c.body.job_id) ?? [];
    list.push({ webhookId: String(c.headers["webhook-id"] ?? ""), body: c.body, at: c.receivedAt.getTime() });
    byJob.set(c.body.job_id, list);
  }
  return byJob;
}

/**
 * Reads every view of `jobIds`. Rebuilding replaces the dashboard's projection (with an equal
 * one, if the projector is right), so it comes after the live reads.
 */
export async function observe(world: ChaosWorld, jobIds: string[], say: (line: string) => void): Promise<JobState[]> {
  const { stack } = world;
  const admin = stack.nats.credentials?.seedFiles.admin;
  const nc = await connectNats(
    stack.natsUrl,
    "chaos-observer",
    admin ? { user: "admin", nkeySeedFile: admin } : undefined,
  );
  const mongo = await MongoClient.connect(stack.mongoUrl);
  try {
    const jsm = await ensureStreams(nc);
    const caughtUp = async () => {
      for (const [stream, name] of [
        [JOB_EVENTS_STREAM, Consumer.dashboard],
        [TRAIN_STREAM, Consumer.dashboardRequests],
      ] as const) {
        const info = await jsm.consumers.info(stream, name).catch(() => null);
        if (!info || info.num_pending > 0 || info.num_ack_pending > 0) return false;
      }
      return true;
    };
    await waitUntil(caughtUp, 120_000);

    const states = new Map<string, JobState>();
    for (const jobId of jobIds) {
      const subjects = await jsm.streams
        .info(JOB_EVENTS_STREAM, { subjects_filter: Subject.jobEvent(jobId, "*") })
        .then((i) => i.state.subjects ?? {});
      const completed = subjects[Subject.jobEvent(jobId, "completed")] ?? 0;
      const failed = subjects[Subject.jobEvent(jobId, "failed")] ?? 0;
      const terminal = await terminalEvent(jsm, jobId);
      states.set(jobId, {
        jobId,
        callbacks: [],
        rest: await statusVia(() => stack.api(`/api/v1/jobs/${jobId}`)),
        dashboard: await statusVia(() => stack.dashboardApi(`/api/jobs/${jobId}`)),
        rebuilt: null,
        stream: { completed, failed, status: terminal.status },
        modelObject: terminal.modelObject,
        outcomeAttempt: await outcomeAttempt(jsm, jobId),
        modelSha256: null,
        modelError: null,
      });
    }
    // a view that is not terminal yet may still be catching up: read it again for a while
    for (const state of states.values()) {
      await waitUntil(async () => {
        if (!state.rest || !TERMINAL.has(state.rest))
          state.rest = await statusVia(() => stack.api(`/api/v1/jobs/${state.jobId}`));
        if (!state.dashboard || !TERMINAL.has(state.dashboard))
          state.dashboard = await statusVia(() => stack.dashboardApi(`/api/jobs/${state.jobId}`));
        return TERMINAL.has(state.rest ?? "") && TERMINAL.has(state.dashboard ?? "");
      }, 20_000);
    }

    say("rebuilding the dashboard's projection from the streams into an empty database…");
    const db = mongo.db(PROJECTION_DB);
    await stack.restart("dashboard", {
      async duringOutage() {
        await db
          .collection(JOBS_COLLECTION)
          .drop()
          .catch(() => undefined);
        await db
          .collection(EPOCHS_COLLECTION)
          .drop()
          .catch(() => undefined);
        await jsm.consumers.delete(JOB_EVENTS_STREAM, Consumer.dashboard);
        await jsm.consumers.delete(TRAIN_STREAM, Consumer.dashboardRequests);
      },
    });
    await waitUntil(
      async () =>
        (await caughtUp()) &&
        (await db.collection(JOBS_COLLECTION).countDocuments({ _id: { $in: jobIds } } as object)) >= jobIds.length,
      180_000,
    );
    for (const state of states.values()) {
      state.rebuilt = await statusVia(() => stack.dashboardApi(`/api/jobs/${state.jobId}`));
    }

    // the models, as the app downloads them from its completed callbacks
    const byJob = callbacksByJob(world);
    for (const state of states.values()) {
      state.callbacks = byJob.get(state.jobId) ?? [];
      const done = state.callbacks.find((c) => c.body.type === "training_completed")?.body;
      if (done?.type !== "training_completed") continue;
      try {
        const res = await fetch(done.model.download_url);
        if (res.status !== 200) throw new Error(`download answered ${res.status}`);
        state.modelSha256 = createHash("sha256")
          .update(Buffer.from(await res.arrayBuffer()))
          .digest("hex");
      } catch (err) {
        state.modelError = String((err as Error).message ?? err);
      }
    }
    return [...states.values()];
  } finally {
    await mongo.close();
    await nc.close();
  }
}

/** The job's status through one HTTP view, null when it cannot be read. */
async function statusVia(get: () => Promise<Response>): Promise<string | null> {
  try {
    const res = await get();
    if (res.status !== 200) return `http ${res.status}`;
    return ((await res.json()) as { status?: string }).status ?? null;
  } catch {
    return null;
  }
}

type Jsm = Awaited<ReturnType<typeof ensureStreams>>;

/**
 * The job's terminal event in JOB_EVENTS (the first one, if there were more): the status it
 * stands for and, for `completed`, the model object it names.
 */
async function terminalEvent(jsm: Jsm, jobId: string): Promise<{ status: string | null; modelObject: string | null }> {
  const found: Array<{ seq: number; status: string; modelObject: string | null }> = [];
  for (const type of ["completed", "failed"] as const) {
    const msg = await jsm.streams
      .getMessage(JOB_EVENTS_STREAM, { last_by_subj: Subject.jobEvent(jobId, type) })
      .catch(() => null);
    if (!msg) continue;
    const event = msg.json<{ error?: { code?: string }; model?: { object_name?: string } }>();
    found.push({
      seq: msg.seq,
      status: type === "completed" ? "completed" : event.error?.code === "CANCELLED" ? "cancelled" : "failed",
      modelObject: event.model?.object_name ?? null,
    });
  }
  const first = found.sort((a, b) => a.seq - b.seq)[0];
  return { status: first?.status ?? null, modelObject: first?.modelObject ?? null };
}

/**
 * The run that claimed the job's outcome, from its key in KV `job-outcomes` (read from the
 * bucket's stream): a record `{outcome, attempt, …}` names it; a bare outcome or a service's
 * claim does not (null).
 */
async function outcomeAttempt(jsm: Jsm, jobId: string): Promise<number | null> {
  const msg = await jsm.streams
    .getMessage(`KV_${Bucket.jobOutcomes}`, { last_by_subj: `$KV.${Bucket.jobOutcomes}.${jobId}` })
    .catch(() => null);
  if (!msg || msg.data.length === 0) return null;
  try {
    const record = JSON.parse(msg.string()) as { attempt?: unknown };
    return typeof record === "object" && record !== null && typeof record.attempt === "number" ? record.attempt : null;
  } catch {
    return null; // a bare outcome, written before runs were numbered
  }
}

/**
 * Trainers still running under the run's folder, and temporary files of finished jobs left in
 * the work folders; read again for up to `graceMs`, since a trainer or a clean-up may still be
 * finishing when the last callback arrives.
 */
export async function leftovers(world: ChaosWorld, graceMs: number): Promise<Leftovers> {
  let found: Leftovers = { trainers: [], files: [] };
  await waitUntil(async () => {
    found = {
      trainers: trainersUnder(world.stackDir).map((t) => `pid ${t.pid} job ${t.jobId}`),
      files: temporaryFiles(world),
    };
    return found.trainers.length === 0 && found.files.length === 0;
  }, graceMs);
  return found;
}

function temporaryFiles(world: ChaosWorld): string[] {
  const found: string[] = [];
  const list = (dir: string) => {
    try {
      return readdirSync(dir, { withFileTypes: true });
    } catch {
      return [];
    }
  };
  for (const agent of world.stack.agents) {
    for (const entry of list(agent.workDir)) {
      if (entry.name === "dataset-cache") {
        for (const cached of list(join(agent.workDir, entry.name))) {
          if (cached.name.endsWith(".part")) found.push(join(agent.workDir, entry.name, cached.name));
        }
        continue;
      }
      if (!entry.isDirectory()) continue;
      for (const inJob of list(join(agent.workDir, entry.name))) {
        if (inJob.name === "dataset" || inJob.name === "dataset.zip")
          found.push(join(agent.workDir, entry.name, inJob.name));
      }
    }
  }
  for (const entry of list(world.stack.datasetWorkDir)) {
    if (entry.name !== "lost+found") found.push(join(world.stack.datasetWorkDir, entry.name));
  }
  return found;
}

/** Polls `ok` every half second until it holds or `timeoutMs` passed; never throws. */
export async function waitUntil(ok: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await ok().catch(() => false)) return true;
    if (Date.now() > deadline) return false;
    await sleep(500);
  }
}
