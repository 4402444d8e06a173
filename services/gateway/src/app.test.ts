/**
 * The gateway's REST API against a real nats-server (JetStream, KV, object store) and a real
 * Mongo-wire server (FerretDB), through HTTP only.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  ApiError,
  Bucket,
  CallbackTarget,
  JOBS_COLLECTION,
  JOB_EVENTS_STREAM,
  JobEvent,
  JobView,
  PROJECTION_DB,
  Subject,
  TRAIN_STREAM,
  TrainAccepted,
  TrainRequested,
  type AgentHeartbeat,
  type TrainRequest,
} from "@trainyard/contracts";
import {
  connectNats,
  createLogger,
  ensureStreams,
  openKv,
  signDownloadPath,
  type KV,
  type ObjectStore,
} from "@trainyard/runtime";
import { exampleTrainRequest, startFerret, startNats, type Supervised } from "@trainyard/stack";
import { MongoClient } from "mongodb";
import { openBus, type Bus } from "./adapters/bus.js";
import { connectJobStore, type JobStore } from "./adapters/job-store.js";
import { createApp, type AppDeps } from "./app.js";

const API_SECRET = "api-secret-for-tests-0123456789";
const DOWNLOAD_SECRET = "download-secret-for-tests-0123";
const log = createLogger("gateway-test", "silent");

interface Harness {
  url: string;
  store: JobStore;
  bus: Bus;
  nc: NatsConnection;
  jsm: JetStreamManager;
  mongoUrl: string;
  close(): Promise<void>;
}

/** Real NATS + FerretDB in a temp dir, and the gateway app listening on a free port. */
async function startHarness(overrides: Partial<AppDeps> = {}): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), "trainyard-gateway-"));
  const quiet = () => undefined;
  const nats = await startNats(join(dir, "nats"), quiet);
  const ferret = await startFerret(join(dir, "ferret"), quiet);
  const processes: Supervised[] = [nats.process, ferret.process];
  const nc = await connectNats(nats.url, "gateway-test");
  const jsm = await ensureStreams(nc);
  const bus = await openBus(nc);
  const store = await connectJobStore(ferret.url);
  const app = createApp({
    store,
    bus,
    log,
    apiSecret: API_SECRET,
    downloadSecret: DOWNLOAD_SECRET,
    maxQueuedJobs: 100,
    typicalJobSeconds: 1800,
    version: "9.9.9-test",
    now: () => new Date(),
    ...overrides,
  });
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, "127.0.0.1", () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    store,
    bus,
    nc,
    jsm,
    mongoUrl: ferret.url,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await store.close();
      await nc.close();
      for (const p of processes) await p.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function newRequest(overrides: Partial<TrainRequest> = {}): TrainRequest {
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

async function call(
  h: Harness,
  method: string,
  path: string,
  opts: { body?: unknown; raw?: string; token?: string | null; contentType?: string } = {},
): Promise<{ status: number; body: unknown; headers: Headers }> {
  const headers: Record<string, string> = { "content-type": opts.contentType ?? "application/json" };
  if (opts.token !== null) headers.authorization = `Bearer ${opts.token ?? API_SECRET}`;
  const res = await fetch(`${h.url}${path}`, {
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
  return { status: res.status, body, headers: res.headers };
}

function expectStatus(res: { status: number; body: unknown }, status: number, what: string): void {
  assert.equal(res.status, status, `expected ${status} for ${what}, got ${res.status}: ${JSON.stringify(res.body)}`);
}

function expectError(res: { status: number; body: unknown }, status: number, code: ApiError["code"], what: string) {
  expectStatus(res, status, what);
  const error = ApiError.parse(res.body);
  assert.equal(error.code, code, `expected code ${code} for ${what}, got ${JSON.stringify(res.body)}`);
  return error;
}

async function lastTrainRequested(jsm: JetStreamManager) {
  return jsm.streams.getMessage(TRAIN_STREAM, { last_by_subj: Subject.trainRequested });
}

describe("gateway REST API (real NATS and FerretDB)", () => {
  let h: Harness;
  let targets: KV;
  let agents: KV;

  before(async () => {
    h = await startHarness();
    targets = await openKv(h.nc, Bucket.callbackTargets);
    agents = await openKv(h.nc, Bucket.agents);
    const beat: AgentHeartbeat = {
      agent_id: "gpu-host-1",
      host: "gpu-host-1",
      slots: [{ index: 0, device: "cuda:0", name: "NVIDIA H100" }],
      started_at: new Date().toISOString(),
      seen_at: new Date().toISOString(),
    };
    await agents.put(beat.agent_id, JSON.stringify(beat));
  });

  after(async () => {
    await h?.close();
  });

  test("POST a valid request: 202 TrainAccepted, train.requested without the secret, callback target in KV", async () => {
    const request = newRequest();
    const started = Date.now();
    const res = await call(h, "POST", "/api/v1/train", { body: request });
    expectStatus(res, 202, "a valid PRD 4.1 request");
    const accepted = TrainAccepted.parse(res.body);
    assert.equal(accepted.job_id, request.job_id);
    assert.equal(accepted.status, "queued");
    assert.equal(accepted.message, "Training job queued successfully");
    assert.ok(Date.parse(accepted.estimated_start_time) >= started - 1000, "expected a start estimate from now on");

    const stored = await lastTrainRequested(h.jsm);
    assert.ok(stored, "expected a train.requested message in stream TRAIN");
    assert.equal(stored.header?.get("Nats-Msg-Id"), request.job_id, "expected Nats-Msg-Id to be the job id");
    const raw = stored.string();
    assert.ok(!raw.includes(request.callback_secret), "expected the callback secret value nowhere in the message");
    assert.ok(!raw.includes("callback_secret"), "expected no callback_secret field in the message");
    assert.ok(!raw.includes(request.callback_url), "expected the callback url to stay out of the stream too");
    const headerDump = JSON.stringify([...(stored.header?.keys() ?? [])].map((k) => stored.header?.values(k)));
    assert.ok(!headerDump.includes(request.callback_secret), "expected the secret in no message header");
    const event = TrainRequested.parse(stored.json());
    assert.deepEqual(
      Object.keys(stored.json<Record<string, unknown>>()).sort(),
      ["dataset", "job_id", "model_config", "requested_at", "resources"],
      "expected exactly the TrainRequested fields",
    );
    assert.equal(event.job_id, request.job_id);
    assert.deepEqual(event.model_config, request.model_config);
    assert.deepEqual(event.dataset, request.dataset);

    const target = await targets.get(request.job_id);
    assert.ok(target && target.operation === "PUT", "expected a callback target in KV callback-targets");
    assert.deepEqual(CallbackTarget.parse(target.json()), {
      url: request.callback_url,
      secret: request.callback_secret,
    });

    const record = await h.store.get(request.job_id);
    assert.equal(record?.status, "queued", "expected the job document inserted as queued");

    const queuedMsg = await h.jsm.streams.getMessage(JOB_EVENTS_STREAM, {
      last_by_subj: Subject.jobEvent(request.job_id, "queued"),
    });
    assert.ok(queuedMsg, "expected a queued job event for live dashboards");
    assert.ok(!queuedMsg.string().includes(request.callback_secret), "expected no secret in the queued event");
    const queued = JobEvent.parse(queuedMsg.json());
    assert.deepEqual(
      queued.type === "queued" && { model_name: queued.model_name, total_epochs: queued.total_epochs },
      { model_name: request.model_config.name, total_epochs: request.model_config.epochs },
      `expected the queued event to carry the model name and epochs, got ${queuedMsg.string()}`,
    );
  });

  test("GET a known job: the JobView of the queued job", async () => {
    const request = newRequest();
    expectStatus(await call(h, "POST", "/api/v1/train", { body: request }), 202, "the job to read back");
    const res = await call(h, "GET", `/api/v1/jobs/${request.job_id}`);
    expectStatus(res, 200, "a known job");
    const view = JobView.parse(res.body);
    assert.deepEqual(Object.keys(res.body as object).sort(), Object.keys(JobView.shape).sort());
    assert.equal(view.job_id, request.job_id);
    assert.equal(view.status, "queued");
    assert.equal(view.progress, 0);
    assert.equal(view.current_epoch, null);
    assert.equal(view.total_epochs, request.model_config.epochs);
    assert.equal(view.started_at, null);
  });

  test("POST the same job id again: 409 JOB_EXISTS, nothing re-queued, the first callback target kept", async () => {
    const request = newRequest();
    expectStatus(await call(h, "POST", "/api/v1/train", { body: request }), 202, "the first request");
    const before = (await h.jsm.streams.info(TRAIN_STREAM)).state.last_seq;
    const again = { ...request, callback_secret: "sk_other_secret" };
    expectError(await call(h, "POST", "/api/v1/train", { body: again }), 409, "JOB_EXISTS", "a duplicate job id");
    assert.equal((await h.jsm.streams.info(TRAIN_STREAM)).state.last_seq, before, "expected no new TRAIN message");
    const target = await targets.get(request.job_id);
    assert.equal(CallbackTarget.parse(target?.json()).secret, request.callback_secret, "expected the first secret");
  });

  test("POST an invalid body: 400 INVALID_PAYLOAD listing each bad path", async () => {
    const request = newRequest();
    const body = {
      ...request,
      job_id: "not-a-uuid",
      callback_url: "ftp://app.example.com/hook",
      model_config: { ...request.model_config, epochs: 0, base_model: "../x.pt" },
      dataset: { ...request.dataset, format: "coco" },
    };
    const error = expectError(await call(h, "POST", "/api/v1/train", { body }), 400, "INVALID_PAYLOAD", "bad fields");
    const paths = (error.errors ?? []).map((e) => e.path).sort();
    assert.deepEqual(
      paths,
      ["callback_url", "dataset.format", "job_id", "model_config.base_model", "model_config.epochs"],
      `expected one error per bad field, got ${JSON.stringify(error.errors)}`,
    );
    assert.ok(
      error.errors?.every((e) => e.message.length > 0),
      "expected a message for every error",
    );
  });

  test("POST malformed JSON: 400 INVALID_PAYLOAD", async () => {
    const res = await call(h, "POST", "/api/v1/train", { raw: '{"job_id": ' });
    const error = expectError(res, 400, "INVALID_PAYLOAD", "malformed JSON");
    assert.match(error.detail, /not valid JSON/);
  });

  test("POST a body that is not JSON at all: 400 INVALID_PAYLOAD", async () => {
    const res = await call(h, "POST", "/api/v1/train", { raw: "job_id=1", contentType: "text/plain" });
    expectError(res, 400, "INVALID_PAYLOAD", "a text/plain body");
  });

  test("no token or a wrong token: 401 with WWW-Authenticate, and nothing queued", async () => {
    const request = newRequest();
    const before = (await h.jsm.streams.info(TRAIN_STREAM)).state.last_seq;
    for (const token of [null, "wrong-token-0123456789"]) {
      const res = await call(h, "POST", "/api/v1/train", { body: request, token });
      expectError(res, 401, "UNAUTHORIZED", `token ${String(token)}`);
      assert.equal(res.headers.get("www-authenticate"), "Bearer");
      expectError(await call(h, "GET", `/api/v1/jobs/${request.job_id}`, { token }), 401, "UNAUTHORIZED", "GET");
    }
    assert.equal((await h.jsm.streams.info(TRAIN_STREAM)).state.last_seq, before, "expected no TRAIN message");
    assert.equal(await h.store.get(request.job_id), null, "expected no job document");
  });

  test("GET an unknown job: 404 JOB_NOT_FOUND", async () => {
    expectError(await call(h, "GET", `/api/v1/jobs/${randomUUID()}`), 404, "JOB_NOT_FOUND", "an unknown job");
  });

  test("an unknown route: 404 NOT_FOUND", async () => {
    expectError(await call(h, "GET", "/api/v1/nothing-here"), 404, "NOT_FOUND", "an unknown route");
  });

  test("GET /health: the PRD 7.5 shape, counting queued and training jobs and GPU slots", async () => {
    const mongo = await new MongoClient(h.mongoUrl).connect();
    try {
      const jobs = mongo.db(PROJECTION_DB).collection<{ _id: string; status: string }>(JOBS_COLLECTION);
      const training = newRequest();
      expectStatus(await call(h, "POST", "/api/v1/train", { body: training }), 202, "a job to mark as training");
      await jobs.updateOne({ _id: training.job_id }, { $set: { status: "training" } });
      const queued = await jobs.countDocuments({ status: "queued" });

      const res = await call(h, "GET", "/health", { token: null });
      expectStatus(res, 200, "the health check, which needs no token");
      const body = res.body as Record<string, unknown>;
      assert.deepEqual(Object.keys(body).sort(), [
        "active_jobs",
        "gpu_available",
        "queue_size",
        "status",
        "timestamp",
        "version",
      ]);
      assert.equal(body.status, "healthy");
      assert.equal(body.version, "9.9.9-test");
      assert.ok(typeof body.timestamp === "string" && !Number.isNaN(Date.parse(body.timestamp)), "ISO timestamp");
      assert.equal(body.gpu_available, true, "expected the cuda slot in KV agents to count as a GPU");
      assert.equal(body.active_jobs, 1, "expected the one training job");
      assert.equal(body.queue_size, queued, "expected queue_size to count queued jobs");
    } finally {
      await mongo.close();
    }
  });

  test("a failing publish undoes the job: 500, then the job id is free and its callback target gone", async () => {
    const failing = await startHarnessSharing(h, {
      ...h.bus,
      publishTrainRequested: () => Promise.reject(new Error("NATS is down")),
    });
    try {
      const request = newRequest();
      expectError(await call(failing, "POST", "/api/v1/train", { body: request }), 500, "INTERNAL_ERROR", "publish");
      assert.equal(await h.store.get(request.job_id), null, "expected the job document removed");
      const target = await targets.get(request.job_id);
      assert.ok(!target || target.operation !== "PUT", "expected the callback target removed");
      expectStatus(await call(h, "POST", "/api/v1/train", { body: request }), 202, "the same job id after the undo");
    } finally {
      await failing.closeServer();
    }
  });

  describe("downloads", () => {
    let artifacts: ObjectStore;
    const jobId = randomUUID();
    const model = Buffer.from(Array.from({ length: 3000 }, (_, i) => i % 251));
    const in1h = () => new Date(Date.now() + 3600_000);

    before(async () => {
      artifacts = h.bus.artifacts;
      await artifacts.putBlob({ name: `${jobId}/best.pt` }, model);
      await artifacts.putBlob({ name: `${jobId}/results.csv` }, Buffer.from("epoch,mAP50\n1,0.5\n"));
    });

    const fetchPath = (path: string) => fetch(`${h.url}${path}`);

    test("a signed model URL returns the stored bytes without the API token", async () => {
      const res = await fetchPath(signDownloadPath(DOWNLOAD_SECRET, `/models/${jobId}.pt`, in1h()));
      assert.equal(res.status, 200, `expected 200 for a signed model URL, got ${res.status}`);
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), model, "expected the exact bytes of best.pt");
      assert.equal(res.headers.get("content-type"), "application/octet-stream");
      assert.equal(res.headers.get("content-disposition"), `attachment; filename="${jobId}.pt"`);
    });

    test("a signed artifact URL returns the file with its content type", async () => {
      const res = await fetchPath(signDownloadPath(DOWNLOAD_SECRET, `/artifacts/${jobId}/results.csv`, in1h()));
      assert.equal(res.status, 200, `expected 200 for a signed artifact URL, got ${res.status}`);
      assert.equal(await res.text(), "epoch,mAP50\n1,0.5\n");
      assert.match(res.headers.get("content-type") ?? "", /^text\/csv/);
    });

    test("unsigned, forged, foreign-key, re-pathed and expired URLs are 403", async () => {
      const path = `/models/${jobId}.pt`;
      const signed = signDownloadPath(DOWNLOAD_SECRET, path, in1h());
      const signature = new URL(signed, h.url).searchParams.get("signature") ?? "";
      const forged = signed.replace(/signature=.*/, `signature=${signature.split("").reverse().join("")}`);
      const otherJob = randomUUID();
      const cases: Array<[string, string]> = [
        ["unsigned", path],
        ["forged", forged],
        ["signed with another key", signDownloadPath("another-download-secret-0123", path, in1h())],
        ["signed for another job", signed.replace(jobId, otherJob)],
        ["another file with the model's signature", signed.replace(".pt?", ".pt/x?")],
        ["expired", signDownloadPath(DOWNLOAD_SECRET, path, new Date(Date.now() - 1000))],
      ];
      for (const [what, url] of cases) {
        const res = await fetchPath(url);
        if (what === "another file with the model's signature") {
          assert.notEqual(res.status, 200, `expected ${what} not to be served`);
          continue;
        }
        assert.equal(res.status, 403, `expected 403 for a ${what} URL, got ${res.status}`);
        assert.equal(ApiError.parse(await res.json()).code, "UNAUTHORIZED");
      }
    });

    test("a signed URL for an object that does not exist is 404", async () => {
      const res = await fetchPath(signDownloadPath(DOWNLOAD_SECRET, `/artifacts/${jobId}/missing.png`, in1h()));
      assert.equal(res.status, 404, `expected 404 for a missing artifact, got ${res.status}`);
    });

    test("a dot file name is never served, even when signed", async () => {
      const res = await fetchPath(signDownloadPath(DOWNLOAD_SECRET, `/artifacts/${jobId}/.hidden`, in1h()));
      assert.equal(res.status, 404, `expected 404 for a dot file, got ${res.status}`);
    });
  });
});

/** A second app over the same servers with a different bus, for failure injection. */
async function startHarnessSharing(h: Harness, bus: Bus): Promise<Harness & { closeServer(): Promise<void> }> {
  const app = createApp({
    store: h.store,
    bus,
    log,
    apiSecret: API_SECRET,
    downloadSecret: DOWNLOAD_SECRET,
    maxQueuedJobs: 100,
    typicalJobSeconds: 1800,
    version: "9.9.9-test",
    now: () => new Date(),
  });
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, "127.0.0.1", () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  const closeServer = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return { ...h, url: `http://127.0.0.1:${port}`, closeServer, close: closeServer };
}

describe("gateway queue limit (MAX_QUEUED_JOBS=1)", () => {
  let h: Harness;

  before(async () => {
    h = await startHarness({ maxQueuedJobs: 1 });
  });

  after(async () => {
    await h?.close();
  });

  test("the second queued job is refused with 503 QUEUE_FULL and not queued", async () => {
    const first = newRequest();
    expectStatus(await call(h, "POST", "/api/v1/train", { body: first }), 202, "the first job");
    const before = (await h.jsm.streams.info(TRAIN_STREAM)).state.last_seq;
    const second = newRequest();
    const error = expectError(await call(h, "POST", "/api/v1/train", { body: second }), 503, "QUEUE_FULL", "job 2");
    assert.match(error.detail, /queue is full/);
    assert.equal((await h.jsm.streams.info(TRAIN_STREAM)).state.last_seq, before, "expected no TRAIN message");
    assert.equal(await h.store.get(second.job_id), null, "expected no job document for the refused job");
  });

  test("/health without any agent heartbeat reports no GPU and the one queued job", async () => {
    const res = await call(h, "GET", "/health", { token: null });
    const body = res.body as { gpu_available: boolean; queue_size: number };
    assert.equal(body.gpu_available, false, "expected no GPU without any agent heartbeat");
    assert.equal(body.queue_size, 1, "expected the one queued job");
  });
});
