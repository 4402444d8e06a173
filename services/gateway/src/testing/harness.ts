/**
 * Test fixture of the gateway: a real nats-server (JetStream, KV, object store) and a real
 * Mongo-wire server (FerretDB) in a temp dir, the gateway app listening on a free port, and HTTP
 * helpers. Not a test file itself (node --test does not pick up this folder).
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  ApiError,
  Bucket,
  JOBS_COLLECTION,
  PROJECTION_DB,
  newJobRecord,
  type AgentHeartbeat,
  type JobRecord,
  type QueueEntry,
  type TrainRequest,
} from "@trainyard/contracts";
import {
  connectNats,
  createLogger,
  ensureStreams,
  openKv,
  watchQueue,
  type KV,
  type Logger,
  type QueueWatch,
} from "@trainyard/runtime";
import { exampleTrainRequest, queueEntry, startFerret, startNats, type Supervised } from "@trainyard/stack";
import { MongoClient, type Collection } from "mongodb";
import { openBus, type Bus } from "../adapters/bus.js";
import { connectCallbackLog, type CallbackLog } from "../adapters/callback-log.js";
import { connectJobStore, type JobStore } from "../adapters/job-store.js";
import { createApp, type AppDeps } from "../app.js";

export const API_TOKEN = "api-token-for-tests-0123456789";
/** A second valid token: two are configured at once, as during a rotation. */
export const NEXT_API_TOKEN = "next-api-token-for-tests-0123";
export const DOWNLOAD_SECRET = "download-secret-for-tests-0123";
export const log: Logger = createLogger("gateway-test", "silent");

export interface Harness {
  url: string;
  store: JobStore;
  bus: Bus;
  callbacks: CallbackLog;
  nc: NatsConnection;
  jsm: JetStreamManager;
  /** The raw jobs collection, to put jobs in states only other services produce. */
  jobs: Collection<JobRecord>;
  agents: KV;
  /** The scheduler's queue bucket, to put jobs in the queue as the scheduler does. */
  queueKv: KV;
  /** The gateway's watch of that bucket. */
  queue: QueueWatch;
  nats: Supervised;
  ferret: Supervised;
  mongoUrl: string;
  natsUrl: string;
  close(): Promise<void>;
}

/** Settings of a test gateway: permissive limits, so only the tests that mean to hit them do. */
export function testDeps(
  h: Pick<Harness, "store" | "bus" | "callbacks" | "queue">,
  overrides: Partial<AppDeps> = {},
): AppDeps {
  return {
    store: h.store,
    bus: h.bus,
    queue: h.queue,
    callbacks: h.callbacks,
    log,
    apiTokens: [API_TOKEN, NEXT_API_TOKEN],
    downloadSecret: DOWNLOAD_SECRET,
    maxQueuedJobs: 1_000_000,
    typicalJobSeconds: 1800,
    version: "9.9.9-test",
    maxBodyBytes: 64 * 1024,
    rateLimitPerMinute: 0,
    rateLimitPerTokenPerMinute: 0,
    // the suites send wrong tokens on purpose, all from one address
    authFailuresAllowed: 1_000_000,
    trustProxy: false,
    corsOrigins: ["https://app.example.com"],
    callbackPolicy: { allowPrivate: false },
    weakCallbacks: "warn",
    healthTimeoutMs: 1000,
    now: () => new Date(),
    ...overrides,
  };
}

/** Real NATS + FerretDB and the gateway app on a free port. */
export async function startHarness(
  overrides: Partial<AppDeps> = {},
  opts: { dependencyTimeoutMs?: number } = {},
): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), "trainyard-gateway-"));
  const quiet = () => undefined;
  const nats = await startNats(join(dir, "nats"), quiet);
  const ferret = await startFerret(join(dir, "ferret"), quiet);
  const nc = await connectNats(nats.url, "gateway-test");
  const jsm = await ensureStreams(nc);
  const timeouts = { timeoutMs: opts.dependencyTimeoutMs ?? 5000 };
  const bus = await openBus(nc, timeouts);
  const store = await connectJobStore(ferret.url, timeouts);
  const callbacks = await connectCallbackLog(ferret.url, timeouts);
  const mongo = await new MongoClient(ferret.url).connect();
  const agents = await openKv(nc, Bucket.agents);
  const queueKv = await openKv(nc, Bucket.queue);
  const queue = await watchQueue(nc);
  const server = await listen(createApp(testDeps({ store, bus, callbacks, queue }, overrides)));
  return {
    url: server.url,
    store,
    bus,
    callbacks,
    nc,
    jsm,
    jobs: mongo.db(PROJECTION_DB).collection<JobRecord>(JOBS_COLLECTION),
    agents,
    queueKv,
    queue,
    nats: nats.process,
    ferret: ferret.process,
    mongoUrl: ferret.url,
    natsUrl: nats.url,
    async close() {
      await server.close();
      queue.stop();
      await Promise.allSettled([store.close(), callbacks.close(), mongo.close(), nc.close()]);
      await ferret.process.stop();
      await nats.process.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The clock of a fixed-clock harness: start estimates are times after this instant. */
export const FIXED_NOW = new Date("2025-01-20T10:00:00.000Z");
/** The typical job length of a fixed-clock harness, in seconds. */
export const TYPICAL_JOB_SECONDS = 1800;
/** `seconds` after FIXED_NOW, written as the API writes a time. */
export const at = (seconds: number): string => new Date(FIXED_NOW.getTime() + seconds * 1000).toISOString();

/** The harness with its clock stopped at FIXED_NOW and TYPICAL_JOB_SECONDS as the typical job, for start estimates. */
export function startFixedClockHarness(): Promise<Harness> {
  return startHarness({ now: () => FIXED_NOW, typicalJobSeconds: TYPICAL_JOB_SECONDS });
}

/** Another gateway app over the same servers (other settings, or a failing bus). */
export async function startAppSharing(
  h: Harness,
  overrides: Partial<AppDeps> = {},
): Promise<{ url: string; close(): Promise<void> }> {
  return listen(createApp(testDeps(h, overrides)));
}

async function listen(app: ReturnType<typeof createApp>): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, "127.0.0.1", () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A valid request like the PRD 4.1 example, with a fresh job id and callback secret. */
export function newRequest(overrides: Partial<TrainRequest> = {}): TrainRequest {
  return {
    ...exampleTrainRequest({
      datasetUrl: "https://datasets.example.com/shapes.zip?token=xyz",
      callbackUrl: "https://app.example.com/functions/v1/webhook-ingest",
      callbackSecret: `sk_test_${randomUUID()}`,
      epochs: 3,
      imageSize: 64,
      batchSize: 4,
    }),
    ...overrides,
  };
}

export interface Answer {
  status: number;
  body: unknown;
  text: string;
  headers: Headers;
}

export interface CallOptions {
  /** Sent as JSON. */
  body?: unknown;
  /** Sent as is. */
  raw?: string | Uint8Array;
  /** null: no Authorization header. */
  token?: string | null;
  /** null: no Content-Type header. */
  contentType?: string | null;
  headers?: Record<string, string>;
}

/** One HTTP request to `baseUrl`; the answer's body parsed as JSON when it is JSON. */
export async function call(
  baseUrl: string | { url: string },
  method: string,
  path: string,
  opts: CallOptions = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...opts.headers };
  const contentType = opts.contentType === undefined ? "application/json" : opts.contentType;
  const hasBody = opts.raw !== undefined || opts.body !== undefined;
  if (contentType !== null && hasBody) headers["content-type"] = contentType;
  if (opts.token !== null) headers.authorization = `Bearer ${opts.token ?? API_TOKEN}`;
  const base = typeof baseUrl === "string" ? baseUrl : baseUrl.url;
  const res = await fetch(`${base}${path}`, {
    method,
    headers,
    ...(opts.raw !== undefined
      ? { body: opts.raw }
      : opts.body !== undefined
        ? { body: JSON.stringify(opts.body) }
        : {}),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text for the failure message
  }
  return { status: res.status, body, text, headers: res.headers };
}

export function expectStatus(res: Answer, status: number, what: string): void {
  assert.equal(res.status, status, `expected ${status} for ${what}, got ${res.status}: ${res.text.slice(0, 500)}`);
}

/** Asserts an ApiError answer with this status and code, and returns it. */
export function expectError(res: Answer, status: number, code: ApiError["code"], what: string): ApiError {
  expectStatus(res, status, what);
  const parsed = ApiError.safeParse(res.body);
  assert.ok(parsed.success, `expected an ApiError body for ${what}, got ${res.text.slice(0, 500)}`);
  assert.equal(parsed.data.code, code, `expected code ${code} for ${what}, got ${res.text.slice(0, 500)}`);
  return parsed.data;
}

/** Puts a job document straight into the projection, as if other services had moved it on. */
export async function putJob(h: Harness, changes: Partial<JobRecord> & { created_at?: Date } = {}): Promise<JobRecord> {
  const request = newRequest();
  const record: JobRecord = {
    ...newJobRecord({
      job_id: request.job_id,
      model_config: request.model_config,
      resources: request.resources,
      now: changes.created_at ?? new Date(),
    }),
    ...changes,
  };
  await h.jobs.insertOne(record);
  return record;
}

/** The slots of a heartbeat from an agent with `n` CPU slots. */
export const cpuSlots = (n: number): AgentHeartbeat["slots"] =>
  Array.from({ length: n }, (_, index) => ({ index, device: "cpu", name: "CPU" }));

/** Writes a heartbeat into the agents bucket, as a live trainer-agent does. */
export async function putAgent(
  h: Harness,
  beat: Partial<AgentHeartbeat> & { agent_id: string },
): Promise<AgentHeartbeat> {
  const now = new Date().toISOString();
  const full: AgentHeartbeat = {
    host: beat.agent_id,
    slots: [{ index: 0, device: "cuda:0", name: "NVIDIA H100" }],
    gpus: [],
    draining: false,
    started_at: now,
    seen_at: now,
    ...beat,
  };
  await h.agents.put(full.agent_id, JSON.stringify(full));
  return full;
}

/**
 * Puts a job into the scheduler's queue as the scheduler does when its dataset is ready
 * (`seq`: arrival order), or, with `placed`, on slot 0 of agent `a`.
 */
export async function putQueueEntry(
  h: Harness,
  jobId: string,
  seq: number,
  opts: { priority?: QueueEntry["priority"]; placed?: boolean } = {},
): Promise<void> {
  const entry = queueEntry(jobId, seq, opts);
  await h.queueKv.put(jobId, JSON.stringify(entry));
}

/** Empties the scheduler's queue bucket. */
export async function clearQueue(h: Harness): Promise<void> {
  for await (const key of await h.queueKv.keys()) await h.queueKv.purge(key);
}

/** Empties the projection and removes every agent heartbeat: no jobs, no slots. */
export async function clearJobsAndAgents(h: Harness): Promise<void> {
  await h.jobs.deleteMany({});
  await clearAgents(h);
}

/** Removes every agent heartbeat. */
export async function clearAgents(h: Harness): Promise<void> {
  for await (const key of await h.agents.keys()) await h.agents.purge(key);
}

/** Polls `check` until it returns true or `timeoutMs` passes; no fixed sleeps. */
export async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
