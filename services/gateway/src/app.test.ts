/**
 * The gateway's REST contract (PRD 7.1, 7.2, 7.5, 13) against a real nats-server and a real
 * Mongo-wire server (FerretDB), through HTTP only.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import type { JetStreamManager } from "@nats-io/jetstream";
import {
  Bucket,
  CallbackTarget,
  Health,
  JOB_EVENTS_STREAM,
  JobEvent,
  JobView,
  Subject,
  TRAIN_STREAM,
  TrainAccepted,
  TrainRequested,
} from "@trainyard/contracts";
import { openKv, type KV } from "@trainyard/runtime";
import { repoRoot } from "@trainyard/stack";
import { DependencyError } from "./adapters/dependency.js";
import { AUTH_FAILURES_ALLOWED } from "./auth.js";
import {
  API_TOKEN,
  NEXT_API_TOKEN,
  call,
  clearAgents,
  expectError,
  expectStatus,
  newRequest,
  putAgent,
  startAppSharing,
  startHarness,
  type Harness,
} from "./testing/harness.js";

async function lastTrainRequested(jsm: JetStreamManager) {
  return jsm.streams.getMessage(TRAIN_STREAM, { last_by_subj: Subject.trainRequested });
}

const trainSeq = async (h: Harness) => (await h.jsm.streams.info(TRAIN_STREAM)).state.last_seq;

describe("gateway REST API (real NATS and FerretDB)", () => {
  let h: Harness;
  let targets: KV;

  before(async () => {
    h = await startHarness();
    targets = await openKv(h.nc, Bucket.callbackTargets);
    await putAgent(h, { agent_id: "gpu-host-1" });
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
    assert.deepEqual(Object.keys(res.body as object).sort(), Object.keys(TrainAccepted.shape).sort());
    assert.equal(accepted.job_id, request.job_id);
    assert.equal(accepted.status, "queued");
    assert.equal(accepted.message, "Training job queued successfully");
    assert.ok(Date.parse(accepted.estimated_start_time) >= started - 1000, "expected a start estimate from now on");
    assert.ok(!res.text.includes(request.callback_secret), "expected the callback secret not echoed");

    const stored = await lastTrainRequested(h.jsm);
    assert.ok(stored, "expected a train.requested message in stream TRAIN");
    assert.equal(stored.header?.get("Nats-Msg-Id"), request.job_id, "expected Nats-Msg-Id to be the job id");
    const raw = stored.string();
    assert.ok(!raw.includes(request.callback_secret), "expected the callback secret value nowhere in the message");
    assert.ok(!raw.includes("callback_secret"), "expected no callback_secret field in the message");
    assert.ok(!raw.includes(request.callback_url), "expected the callback url to stay out of the stream too");
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

  test("read-your-writes: a GET right after the 202 returns the queued job, no projector needed", async () => {
    for (let i = 0; i < 5; i++) {
      const request = newRequest();
      expectStatus(await call(h, "POST", "/api/v1/train", { body: request }), 202, "the job to read back");
      const res = await call(h, "GET", `/api/v1/jobs/${request.job_id}`);
      expectStatus(res, 200, "the job just accepted");
      const view = JobView.parse(res.body);
      assert.deepEqual(Object.keys(res.body as object).sort(), Object.keys(JobView.shape).sort());
      assert.deepEqual(
        { ...view, created_at: "(checked below)", estimated_start_time: "(checked below)" },
        {
          job_id: request.job_id,
          status: "queued",
          progress: 0,
          current_epoch: null,
          total_epochs: request.model_config.epochs,
          metrics: null,
          created_at: "(checked below)",
          started_at: null,
          eta_seconds: null,
          // no scheduler here: the job never leaves dataset preparation for the queue
          queue_position: null,
          estimated_start_time: "(checked below)",
        },
        "expected the PRD 7.2 view of a queued job, with its place in the queue",
      );
      assert.ok(!Number.isNaN(Date.parse(view.created_at)), "expected an ISO created_at");
      assert.ok(!Number.isNaN(Date.parse(view.estimated_start_time ?? "")), "expected an ISO estimated_start_time");
    }
  });

  test("POST the same job id again: 409 JOB_EXISTS, nothing re-queued, the first callback target kept", async () => {
    const request = newRequest();
    expectStatus(await call(h, "POST", "/api/v1/train", { body: request }), 202, "the first request");
    const before = await trainSeq(h);
    const again = { ...request, callback_secret: "sk_other_secret" };
    const error = expectError(
      await call(h, "POST", "/api/v1/train", { body: again }),
      409,
      "JOB_EXISTS",
      "a duplicate",
    );
    assert.ok(error.detail.includes(request.job_id), "expected the detail to name the job id");
    assert.equal(await trainSeq(h), before, "expected no new TRAIN message");
    const target = await targets.get(request.job_id);
    assert.equal(CallbackTarget.parse(target?.json()).secret, request.callback_secret, "expected the first secret");
  });

  test("POST an invalid body: 400 INVALID_PAYLOAD listing each bad path, never echoing the secret", async () => {
    const request = newRequest();
    const body = {
      ...request,
      job_id: "not-a-uuid",
      callback_url: "ftp://app.example.com/hook",
      model_config: { ...request.model_config, epochs: 0, base_model: "../x.pt" },
      dataset: { ...request.dataset, format: "coco" },
    };
    const res = await call(h, "POST", "/api/v1/train", { body });
    const error = expectError(res, 400, "INVALID_PAYLOAD", "bad fields");
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
    assert.ok(!res.text.includes(request.callback_secret), "expected the callback secret nowhere in the answer");
  });

  test("a loopback or metadata callback_url is a 400 at POST, naming why, and nothing is queued", async () => {
    const before = await trainSeq(h);
    for (const [callbackUrl, why] of [
      ["http://127.0.0.1:8000/hook", /127\.0\.0\.1 is not reachable .*loopback/],
      ["http://localhost:8000/hook", /localhost resolves only to refused addresses/],
      ["http://instance-data.ec2.internal/hook", /cloud metadata service/],
    ] as const) {
      const request = newRequest({ callback_url: callbackUrl });
      const res = await call(h, "POST", "/api/v1/train", { body: request });
      const error = expectError(res, 400, "INVALID_PAYLOAD", `the callback URL ${callbackUrl}`);
      assert.deepEqual(
        error.errors?.map((e) => e.path),
        ["callback_url"],
      );
      assert.match(error.errors?.[0]?.message ?? "", why);
      assert.equal(await targets.get(request.job_id), null, "no callback target stored");
      const job = await call(h, "GET", `/api/v1/jobs/${request.job_id}`);
      assert.equal(job.status, 404, "no job recorded");
    }
    assert.equal(await trainSeq(h), before, "expected no TRAIN message");
  });

  test("CALLBACK_POLICY=warn (the default): an http:// callback URL with a short secret is accepted", async () => {
    const res = await call(h, "POST", "/api/v1/train", {
      body: newRequest({ callback_url: "http://app.example.com/hook", callback_secret: "secret" }),
    });
    assert.equal(res.status, 202, res.text);
  });

  test("a bad callback secret is named, but its value is never echoed", async () => {
    const secret = `sk_live_${"x".repeat(600)}`;
    const res = await call(h, "POST", "/api/v1/train", { body: { ...newRequest(), callback_secret: secret } });
    const error = expectError(res, 400, "INVALID_PAYLOAD", "an oversized callback secret");
    assert.deepEqual(
      error.errors?.map((e) => e.path),
      ["callback_secret"],
    );
    assert.ok(!res.text.includes("x".repeat(20)), "expected no part of the secret in the answer");
  });

  test("malformed JSON: 400 INVALID_PAYLOAD; a body that is not JSON: 415 UNSUPPORTED_MEDIA_TYPE", async () => {
    const malformed = expectError(
      await call(h, "POST", "/api/v1/train", { raw: '{"job_id": ' }),
      400,
      "INVALID_PAYLOAD",
      "malformed JSON",
    );
    assert.match(malformed.detail, /not valid JSON/);
    assert.deepEqual(
      malformed.errors?.map((e) => e.path),
      ["(body)"],
    );
    const before = await trainSeq(h);
    for (const [contentType, raw] of [
      ["text/plain", "job_id=1"],
      ["application/x-www-form-urlencoded", "job_id=1"],
      [null, JSON.stringify(newRequest())],
    ] as const) {
      const res = await call(h, "POST", "/api/v1/train", { raw, contentType });
      expectError(res, 415, "UNSUPPORTED_MEDIA_TYPE", `a body sent as ${String(contentType)}`);
    }
    assert.equal(await trainSeq(h), before, "expected nothing queued");
  });

  test("a body over the configured limit: 413 PAYLOAD_TOO_LARGE, nothing stored", async () => {
    const request = { ...newRequest(), padding: "x".repeat(70 * 1024) };
    const res = await call(h, "POST", "/api/v1/train", { body: request });
    expectError(res, 413, "PAYLOAD_TOO_LARGE", "a 70 KiB body over the 64 KiB limit");
    assert.equal(await h.store.get(request.job_id), null, "expected no job document");
  });

  test("no token or a wrong token: 401 with WWW-Authenticate, nothing queued, the token never echoed", async () => {
    const request = newRequest();
    const before = await trainSeq(h);
    const wrong = `wrong-token-${randomUUID()}`;
    for (const token of [null, wrong, `${API_TOKEN}x`, ""]) {
      const res = await call(h, "POST", "/api/v1/train", { body: request, token });
      expectError(res, 401, "UNAUTHORIZED", `token ${JSON.stringify(token)}`);
      assert.equal(res.headers.get("www-authenticate"), "Bearer");
      assert.ok(!res.text.includes(wrong), "expected the token sent nowhere in the answer");
      expectError(await call(h, "GET", `/api/v1/jobs/${request.job_id}`, { token }), 401, "UNAUTHORIZED", "GET");
      expectError(await call(h, "GET", "/api/v1/jobs", { token }), 401, "UNAUTHORIZED", "GET list");
      expectError(await call(h, "DELETE", `/api/v1/jobs/${request.job_id}`, { token }), 401, "UNAUTHORIZED", "DELETE");
    }
    assert.equal(await trainSeq(h), before, "expected no TRAIN message");
    assert.equal(await h.store.get(request.job_id), null, "expected no job document");
  });

  test("every configured token is accepted (rotation)", async () => {
    for (const token of [API_TOKEN, NEXT_API_TOKEN]) {
      expectStatus(await call(h, "POST", "/api/v1/train", { body: newRequest(), token }), 202, "a configured token");
    }
  });

  test("GET an unknown job: 404 JOB_NOT_FOUND", async () => {
    expectError(await call(h, "GET", `/api/v1/jobs/${randomUUID()}`), 404, "JOB_NOT_FOUND", "an unknown job");
  });

  test("a job id that is not a UUID: 400 INVALID_PARAMETER naming job_id", async () => {
    for (const method of ["GET", "DELETE"]) {
      const error = expectError(await call(h, method, "/api/v1/jobs/42"), 400, "INVALID_PARAMETER", method);
      assert.deepEqual(
        error.errors?.map((e) => e.path),
        ["job_id"],
      );
    }
  });

  test("an unknown route: 404 NOT_FOUND; a known path with another method: 405 with Allow", async () => {
    expectError(await call(h, "GET", "/api/v1/nothing-here"), 404, "NOT_FOUND", "an unknown route");
    const put = await call(h, "PUT", "/api/v1/train", { body: {} });
    expectError(put, 405, "METHOD_NOT_ALLOWED", "PUT /api/v1/train");
    assert.equal(put.headers.get("allow"), "POST");
    const patch = await call(h, "PATCH", `/api/v1/jobs/${randomUUID()}`, { body: {} });
    expectError(patch, 405, "METHOD_NOT_ALLOWED", "PATCH a job");
    assert.equal(patch.headers.get("allow"), "GET, DELETE");
    expectError(await call(h, "POST", "/health", { token: null, body: {} }), 405, "METHOD_NOT_ALLOWED", "POST /health");
  });

  test("a failing publish undoes the job: 503 SERVICE_UNAVAILABLE, the job id free again, no callback target", async () => {
    const failing = await startAppSharing(h, {
      bus: { ...h.bus, publishTrainRequested: () => Promise.reject(new DependencyError("nats", new Error("down"))) },
    });
    try {
      const request = newRequest();
      const res = await call(failing, "POST", "/api/v1/train", { body: request });
      expectError(res, 503, "SERVICE_UNAVAILABLE", "a publish that fails");
      assert.equal(res.headers.get("retry-after"), "5", "expected a Retry-After on a dependency 503");
      assert.equal(await h.store.get(request.job_id), null, "expected the job document removed");
      const target = await targets.get(request.job_id);
      assert.ok(!target || target.operation !== "PUT", "expected the callback target removed");
      expectStatus(await call(h, "POST", "/api/v1/train", { body: request }), 202, "the same job id after the undo");
    } finally {
      await failing.close();
    }
  });

  test("an unexpected bug is a 500 INTERNAL_ERROR that says nothing of it", async () => {
    const broken = await startAppSharing(h, {
      store: { ...h.store, get: () => Promise.reject(new TypeError("secret internals at /srv/x.js:1")) },
    });
    try {
      const res = await call(broken, "GET", `/api/v1/jobs/${randomUUID()}`);
      expectError(res, 500, "INTERNAL_ERROR", "a bug in a handler");
      assert.ok(!res.text.includes("internals"), "expected no detail of the bug in the answer");
    } finally {
      await broken.close();
    }
  });

  test("GET /health without a token: healthy with a live agent, and the PRD 7.5 fields from real state", async () => {
    const training = newRequest();
    expectStatus(await call(h, "POST", "/api/v1/train", { body: training }), 202, "a job to mark as training");
    await h.jobs.updateOne({ _id: training.job_id }, { $set: { status: "training" } });
    const [queued, active] = await Promise.all([
      h.jobs.countDocuments({ status: "queued" }),
      h.jobs.countDocuments({ status: "training" }),
    ]);

    const res = await call(h, "GET", "/health", { token: null });
    expectStatus(res, 200, "the health check, which needs no token");
    const body = Health.parse(res.body);
    assert.deepEqual(Object.keys(res.body as object).sort(), Object.keys(Health.shape).sort());
    assert.equal(body.status, "healthy");
    assert.equal(body.version, "9.9.9-test");
    assert.ok(Math.abs(Date.parse(body.timestamp) - Date.now()) < 60_000, "expected the current time");
    assert.equal(body.gpu_available, true, "expected the cuda slot in KV agents to count as a GPU");
    assert.equal(body.active_jobs, active, "expected active_jobs to count training jobs");
    assert.equal(body.queue_size, queued, "expected queue_size to count queued jobs");
    assert.equal(body.checks.nats.status, "up");
    assert.equal(body.checks.mongodb.status, "up");
    assert.deepEqual(body.checks.agents, { status: "up", live_agents: 1, slots: 1 });
  });

  test("GET /health with no live agent: degraded, still 200, no GPU", async () => {
    await clearAgents(h);
    try {
      const res = await call(h, "GET", "/health", { token: null });
      expectStatus(res, 200, "a degraded gateway (it still accepts jobs)");
      const body = Health.parse(res.body);
      assert.equal(body.status, "degraded");
      assert.equal(body.gpu_available, false);
      assert.deepEqual(body.checks.agents, { status: "down", live_agents: 0, slots: 0 });
    } finally {
      await putAgent(h, { agent_id: "gpu-host-1" });
    }
  });

  test("GET /api/v1/openapi.json without a token: the committed, generated document", async () => {
    const res = await call(h, "GET", "/api/v1/openapi.json", { token: null });
    expectStatus(res, 200, "the OpenAPI document");
    const committed = JSON.parse(await readFile(`${repoRoot}/packages/contracts/openapi.json`, "utf8")) as Record<
      string,
      unknown
    >;
    assert.deepEqual(res.body, committed, "expected the served document to equal packages/contracts/openapi.json");
    const paths = Object.keys((res.body as { paths: object }).paths).sort();
    for (const path of ["/api/v1/train", "/api/v1/jobs", "/api/v1/jobs/{job_id}", "/health", "/metrics"]) {
      assert.ok(paths.includes(path), `expected ${path} in the document`);
    }
  });

  test("GET /api/v1/docs without a token: a self-contained HTML reference", async () => {
    const res = await call(h, "GET", "/api/v1/docs", { token: null });
    expectStatus(res, 200, "the API page");
    assert.match(res.headers.get("content-type") ?? "", /^text\/html/);
    assert.match(res.headers.get("content-security-policy") ?? "", /default-src 'none'/);
    for (const text of ["POST</span> <code>/api/v1/train</code>", "DELETE</span> <code>/api/v1/jobs/{job_id}</code>"]) {
      assert.ok(res.text.includes(text), `expected the page to document ${text}`);
    }
  });

  test("CORS: the app's origin may call the API from a browser, other origins may not", async () => {
    const origin = "https://app.example.com";
    const preflight = await call(h, "OPTIONS", "/api/v1/train", {
      token: null,
      headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "authorization" },
    });
    expectStatus(preflight, 204, "a preflight, which carries no token");
    assert.equal(preflight.headers.get("access-control-allow-origin"), origin);
    const res = await call(h, "GET", `/api/v1/jobs/${randomUUID()}`, { headers: { origin } });
    assert.equal(res.headers.get("access-control-allow-origin"), origin, "expected the actual answer allowed too");
    const other = await call(h, "GET", `/api/v1/jobs/${randomUUID()}`, { headers: { origin: "https://evil.example" } });
    assert.equal(other.headers.get("access-control-allow-origin"), null, "expected no CORS for another origin");
  });

  test("answers carry nosniff, and API answers are not cached", async () => {
    const res = await call(h, "GET", `/api/v1/jobs/${randomUUID()}`);
    assert.equal(res.headers.get("x-content-type-options"), "nosniff");
    assert.equal(res.headers.get("cache-control"), "no-store");
  });
});

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
    const before = await trainSeq(h);
    const second = newRequest();
    const res = await call(h, "POST", "/api/v1/train", { body: second });
    const error = expectError(res, 503, "QUEUE_FULL", "job 2");
    assert.match(error.detail, /queue is full/);
    assert.equal(res.headers.get("retry-after"), "60", "expected a Retry-After on QUEUE_FULL");
    assert.equal(await trainSeq(h), before, "expected no TRAIN message");
    assert.equal(await h.store.get(second.job_id), null, "expected no job document for the refused job");
  });

  test("a job leaving the queue makes room again", async () => {
    await h.jobs.updateMany({ status: "queued" }, { $set: { status: "training" } });
    expectStatus(await call(h, "POST", "/api/v1/train", { body: newRequest() }), 202, "a job after the queue drained");
  });
});

describe("gateway rate limit (PRD 13.3)", () => {
  let h: Harness;
  let now = Date.parse("2025-01-20T10:00:00Z");
  let limited: { url: string; close(): Promise<void> };

  before(async () => {
    h = await startHarness();
    limited = await startAppSharing(h, { rateLimitPerMinute: 3, trustProxy: true, now: () => new Date(now) });
  });

  after(async () => {
    await limited?.close();
    await h?.close();
  });

  const post = (client: string, body: unknown = newRequest()) =>
    call(limited, "POST", "/api/v1/train", { body, headers: { "x-forwarded-for": client } });

  test("the 4th submission of a client within a minute is 429 RATE_LIMITED with Retry-After", async () => {
    expectStatus(await post("203.0.113.1"), 202, "submission 1");
    now += 10_000;
    expectStatus(await post("203.0.113.1", { bad: true }), 400, "submission 2 (an invalid one counts too)");
    expectStatus(await post("203.0.113.1"), 202, "submission 3");
    const request = newRequest();
    const res = await post("203.0.113.1", request);
    expectError(res, 429, "RATE_LIMITED", "submission 4");
    assert.equal(res.headers.get("retry-after"), "50", "expected to wait until the first submission is a minute old");
    assert.equal(await h.store.get(request.job_id), null, "expected the limited job not stored");
  });

  test("other clients and the read routes are not limited", async () => {
    expectStatus(await post("203.0.113.2"), 202, "another client's first submission");
    const read = await call(limited, "GET", "/api/v1/jobs", { headers: { "x-forwarded-for": "203.0.113.1" } });
    expectStatus(read, 200, "a list request of the limited client");
  });

  test("a minute after its first submission the client may submit again", async () => {
    now += 50_000;
    expectStatus(await post("203.0.113.1"), 202, "a submission after the window moved on");
  });
});

describe("gateway: a limit per API token, and failed authentications throttled (issue 16)", () => {
  let h: Harness;
  let app: { url: string; close(): Promise<void> };

  before(async () => {
    h = await startHarness();
    app = await startAppSharing(h, {
      rateLimitPerMinute: 0,
      rateLimitPerTokenPerMinute: 2,
      authFailuresAllowed: AUTH_FAILURES_ALLOWED,
      trustProxy: true,
    });
  });

  after(async () => {
    await app?.close();
    await h?.close();
  });

  const post = (client: string, token: string) =>
    call(app, "POST", "/api/v1/train", { body: newRequest(), token, headers: { "x-forwarded-for": client } });

  test("one token is one client whatever its addresses: the 3rd submission in a minute is 429", async () => {
    expectStatus(await post("203.0.113.10", API_TOKEN), 202, "submission 1");
    expectStatus(await post("203.0.113.11", API_TOKEN), 202, "submission 2, from another address");
    expectError(await post("203.0.113.12", API_TOKEN), 429, "RATE_LIMITED", "submission 3, from a third address");
    expectStatus(await post("203.0.113.12", NEXT_API_TOKEN), 202, "the other token has its own count");
  });

  test("after 10 wrong tokens a client is refused with 429 before any check, the right token too", async () => {
    const client = "198.51.100.20";
    const read = (token: string) => call(app, "GET", "/api/v1/jobs", { token, headers: { "x-forwarded-for": client } });
    for (let i = 1; i <= 10; i++)
      expectError(await read(`wrong-token-${i}-0123456789`), 401, "UNAUTHORIZED", `try ${i}`);
    const throttled = await read("wrong-token-11-0123456789");
    expectError(throttled, 429, "RATE_LIMITED", "the 11th wrong token");
    assert.ok(Number(throttled.headers.get("retry-after")) > 0, "with Retry-After");
    expectError(await read(API_TOKEN), 429, "RATE_LIMITED", "the right token from the throttled client");
    expectStatus(
      await call(app, "GET", "/api/v1/jobs", { headers: { "x-forwarded-for": "198.51.100.21" } }),
      200,
      "another client",
    );
  });
});
