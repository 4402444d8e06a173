import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import {
  Bucket,
  CALLBACK_DELIVERIES_COLLECTION,
  CALLBACK_OUTBOX_COLLECTION,
  JOBS_COLLECTION,
  newJobRecord,
  type AgentHeartbeat,
  type ApiError,
  type CallbackDelivery,
} from "@trainyard/contracts";
import { openKv, publishJobEvent } from "@trainyard/runtime";
import type { Dashboard } from "./dashboard.js";
import { epochEvent, happyPath, queuedJob, queueEntry } from "./job-fixtures.js";
import type { JobDetail, JobList, Overview, ServerMessage, SessionInfo } from "./job-wire.js";
import { AGENTS_COLLECTION, EPOCHS_COLLECTION, type ProjectedJob } from "./projected-job.js";
import { http, openFeed, startInfra, until, type FeedRecorder, type Infra } from "./testing/live-fixture.js";

const TOKEN = "operator-token-for-tests-0123";
const GATEWAY_TOKEN = "gateway-token-for-tests-0123";
const DOWNLOAD_SECRET = "download-secret-for-tests-0123";

type Of<T extends ServerMessage["type"]> = Extract<ServerMessage, { type: T }>;
const is =
  <T extends ServerMessage["type"]>(type: T, match: (m: Of<T>) => boolean = () => true) =>
  (m: ServerMessage): m is Of<T> =>
    m.type === type && match(m as Of<T>);

/** Stands in for the gateway's DELETE /api/v1/jobs/{id}: records the call, marks the job as the gateway does. */
async function startGatewayStandIn(infra: Infra) {
  const calls: Array<{ method: string; url: string; authorization: string | undefined }> = [];
  const server: Server = createServer((req: IncomingMessage, res) => {
    calls.push({ method: req.method ?? "", url: req.url ?? "", authorization: req.headers.authorization });
    const jobId = /^\/api\/v1\/jobs\/([^/]+)$/.exec(req.url ?? "")?.[1] ?? "";
    void infra.db
      .collection<ProjectedJob>(JOBS_COLLECTION)
      .updateOne({ _id: jobId }, { $set: { status: "cancelled", finished_at: new Date(), eta_seconds: null } })
      .then(() => {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ job_id: jobId, status: "cancelled", message: "Job cancelled successfully" }));
      });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, calls, close: () => server.close() };
}

describe("dashboard against real NATS JetStream and FerretDB", () => {
  let infra: Infra;
  let dashboard: Dashboard;
  let gateway: Awaited<ReturnType<typeof startGatewayStandIn>>;
  let cookie = "";
  const jobId = randomUUID();
  const jobs = () => infra.db.collection<ProjectedJob>(JOBS_COLLECTION);
  const authed = (extra: Record<string, string> = {}) => ({ cookie, ...extra });
  const feed = () => openFeed(dashboard.url, { cookie });
  const publish = (events: ReturnType<typeof happyPath>, tag: string) =>
    Promise.all(events.map((e, i) => publishJobEvent(infra.js, e, `${e.job_id}-${tag}-${i}`)));

  before(async () => {
    infra = await startInfra();
    gateway = await startGatewayStandIn(infra);
    dashboard = await infra.start({
      token: TOKEN,
      gateway: { url: gateway.url, token: GATEWAY_TOKEN },
      downloads: { publicBaseUrl: "http://gateway.example", secret: DOWNLOAD_SECRET },
      appUrlTemplate: "https://app.example/training/{job_id}",
      live: { deliveryPollMs: 100 },
    });
  });

  after(async () => {
    gateway?.close();
    await infra?.stop();
  });

  it("refuses the API, the live feed and the progress stream until the operator logs in", async () => {
    assert.equal((await http(dashboard.url, "/api/overview")).status, 401);
    assert.equal((await http(dashboard.url, `/stream/progress/${jobId}`)).status, 401);
    await assert.rejects(openFeed(dashboard.url), /upgrade refused: 401/);
    const anonymous = JSON.parse((await http(dashboard.url, "/api/session")).body) as SessionInfo;
    assert.deepEqual(anonymous, {
      auth_required: true,
      authenticated: false,
      can_cancel: false,
      can_download: false,
      app_url_template: null,
    });

    const login = (token: string, headers: Record<string, string> = {}) =>
      http(dashboard.url, "/api/session", {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify({ token }),
      });
    assert.equal((await login("not-the-token")).status, 401);
    assert.equal((await login(TOKEN, { origin: "http://evil.example" })).status, 403);
    const ok = await login(TOKEN);
    assert.equal(ok.status, 204);
    const setCookie = String(ok.headers["set-cookie"]);
    assert.match(setCookie, /HttpOnly; SameSite=Strict/);
    assert.ok(!setCookie.includes(TOKEN), "the cookie does not hold the token");
    cookie = setCookie.split(";")[0] ?? "";

    const session = JSON.parse((await http(dashboard.url, "/api/session", { headers: authed() })).body) as SessionInfo;
    assert.deepEqual(session, {
      auth_required: true,
      authenticated: true,
      can_cancel: true,
      can_download: true,
      app_url_template: "https://app.example/training/{job_id}",
    });
    const page = await http(dashboard.url, "/", { headers: authed() });
    assert.ok(!page.body.includes(GATEWAY_TOKEN) && !page.body.includes(DOWNLOAD_SECRET), "no secret in the page");
  });

  it("projects a job's events and pushes them in order: summaries to all, details and epochs to followers", async () => {
    // as the gateway inserts it at POST time
    await jobs().insertOne(
      newJobRecord({ job_id: jobId, model_config: queuedJob(jobId).model_config, now: new Date() }) as ProjectedJob,
    );
    const overview = await feed();
    const first = await overview.waitFor("overview", is("overview"));
    assert.equal(overview.messages[0]?.type, "overview", "the overview comes first");
    assert.equal(first.overview.jobs.find((j) => j.job_id === jobId)?.status, "queued");
    assert.ok(first.overview.counts.queued >= 1);

    const page = await feed();
    page.send({ type: "subscribe", job_id: jobId });
    const snapshot = await page.waitFor("job snapshot", is("job_snapshot"));
    assert.equal(snapshot.job.job_id, jobId);
    assert.deepEqual(snapshot.points, []);
    assert.deepEqual(snapshot.deliveries, [], "no callbacks yet");

    // An event for a job without a document is retried briefly, then skipped: later ones still flow.
    await publishJobEvent(infra.js, epochEvent(randomUUID(), 1, 50), randomUUID());
    await publish(happyPath(jobId), "live");
    await overview.waitFor(
      "completed summary",
      is("job", (m) => m.job.job_id === jobId && m.job.status === "completed"),
    );
    const summaries = overview.messages.filter(is("job", (m) => m.job.job_id === jobId));
    assert.deepEqual(
      summaries.map((m) => [m.job.status, m.job.phase, m.job.progress]),
      [
        ["queued", "downloading", 5],
        ["queued", "downloading", 5],
        ["training", "preparing", 10],
        ["training", "training", 50],
        ["training", "training", 94],
        ["completed", null, 100],
      ],
      "one update per event, in publication order",
    );
    assert.ok(summaries[2]?.counts && summaries[5]?.counts, "counts travel with status changes");
    assert.equal(summaries[3]?.counts, undefined, "and only then");
    assert.ok(!overview.messages.some((m) => m.type === "epoch"), "the overview does not get epochs");

    await page.waitFor(
      "completed detail",
      is("job_detail", (m) => m.job.status === "completed"),
    );
    const epochs = page.messages.filter(is("epoch"));
    assert.deepEqual(
      epochs.map((m) => [m.point.epoch, m.point.mAP50, m.point.precision]),
      [
        [1, 0.4, 0.7],
        [2, 0.8, 0.7],
      ],
    );
    const detail = page.messages.filter(is("job_detail")).at(-1)!.job;
    assert.deepEqual(detail.files, ["model", "logs", "results_csv", "confusion_matrix", "f1_curve"]);
    assert.equal(detail.final_metrics?.best_epoch, 2);

    const doc = await jobs().findOne({ _id: jobId });
    assert.equal(doc?.status, "completed");
    assert.equal(doc?.artifacts?.training_logs, `${jobId}/logs.txt`);
    assert.equal(await infra.db.collection(EPOCHS_COLLECTION).countDocuments({ job_id: jobId }), 2);
    overview.close();
    page.close();
  });

  it("a late event does not reopen a finished job", async () => {
    const before = await jobs().findOne({ _id: jobId });
    await publishJobEvent(infra.js, epochEvent(jobId, 1, 50), randomUUID());
    const after = await until("the late event to be consumed", async () => {
      const doc = await jobs().findOne({ _id: jobId });
      return doc && doc.last_event_seq > before!.last_event_seq ? doc : null;
    });
    assert.deepEqual([after.status, after.progress, after.current_epoch], ["completed", 100, 2]);
  });

  it("a page that reconnects resumes: it gets only the history rows after the sequence it has", async () => {
    const page = await feed();
    page.send({ type: "subscribe", job_id: jobId });
    const full = await page.waitFor("full snapshot", is("job_snapshot"));
    const firstSeq = full.points[0]!.seq;
    page.send({ type: "unsubscribe", job_id: jobId });
    page.send({ type: "subscribe", job_id: jobId, since_seq: firstSeq });
    const resumed = await page.waitFor(
      "resumed snapshot",
      is("job_snapshot", (m) => m.since_seq === firstSeq),
    );
    assert.deepEqual(
      resumed.points.map((p) => p.epoch),
      [2],
    );
    page.send({ type: "subscribe", job_id: randomUUID() });
    await page.waitFor("missing job", is("job_missing"));
    page.close();
  });

  it("answers the REST reads and /healthz", async () => {
    const list = JSON.parse((await http(dashboard.url, "/api/jobs", { headers: authed() })).body) as JobList;
    assert.equal(list.jobs.find((j) => j.job_id === jobId)?.status, "completed");
    const overview = JSON.parse((await http(dashboard.url, "/api/overview", { headers: authed() })).body) as Overview;
    assert.equal(overview.counts.completed, 1);
    assert.deepEqual(overview.queue.waiting, [], "nothing waits in the scheduler's queue");
    const detail = JSON.parse(
      (await http(dashboard.url, `/api/jobs/${jobId}`, { headers: authed() })).body,
    ) as JobDetail;
    assert.equal(detail.model_config.base_model, "yolov8n.pt");
    const epochs = await http(dashboard.url, `/api/jobs/${jobId}/epochs`, { headers: authed() });
    assert.equal((JSON.parse(epochs.body) as { points: unknown[] }).points.length, 2);

    const missing = await http(dashboard.url, `/api/jobs/${randomUUID()}`, { headers: authed() });
    assert.equal(missing.status, 404);
    assert.equal((JSON.parse(missing.body) as ApiError).code, "JOB_NOT_FOUND");
    assert.equal((await http(dashboard.url, "/api/jobs/not-a-uuid", { headers: authed() })).status, 404);
    assert.equal((await http(dashboard.url, "/api/jobs", { method: "POST", headers: authed() })).status, 405);
    const health = await http(dashboard.url, "/healthz");
    assert.deepEqual(JSON.parse(health.body), { status: "ok", mongo: true, nats: true });
  });

  it("hands out downloads as short-lived signed gateway links", async () => {
    const model = await http(dashboard.url, `/api/jobs/${jobId}/files/model`, { headers: authed() });
    assert.equal(model.status, 302);
    assert.match(
      String(model.headers.location),
      new RegExp(`^http://gateway\\.example/models/${jobId}\\.pt\\?expires=\\d+&signature=`),
    );
    const logs = await http(dashboard.url, `/api/jobs/${jobId}/files/logs`, { headers: authed() });
    assert.match(String(logs.headers.location), new RegExp(`/artifacts/${jobId}/logs\\.txt\\?`));
    const f1 = await http(dashboard.url, `/api/jobs/${jobId}/files/f1_curve`, { headers: authed() });
    assert.match(String(f1.headers.location), new RegExp(`/artifacts/${jobId}/f1_curve\\.png\\?`));
    assert.equal((await http(dashboard.url, `/api/jobs/${jobId}/files/pr_curve`, { headers: authed() })).status, 404);
    assert.equal((await http(dashboard.url, `/api/jobs/${jobId}/files/secrets`, { headers: authed() })).status, 404);
    assert.equal((await http(dashboard.url, `/api/jobs/${jobId}/files/model`)).status, 401);
  });

  it("pushes a followed job's callback delivery log when the notifier writes it", async () => {
    const page = await feed();
    page.send({ type: "subscribe", job_id: jobId });
    await page.waitFor("snapshot", is("job_snapshot"));
    const now = new Date();
    const delivery: CallbackDelivery = {
      _id: `${jobId}:42`,
      job_id: jobId,
      seq: 42,
      type: "training_completed",
      status: "retrying",
      body: "{}",
      attempts: [{ attempt: 1, at: now, status_code: 503, latency_ms: 12.5, error: null }],
      failures: 1,
      reason: null,
      revision: 2,
      redelivered_at: null,
      created_at: now,
      updated_at: now,
      next_attempt_at: new Date(now.getTime() + 2000),
    };
    const progress: CallbackDelivery = {
      ...delivery,
      _id: `${jobId}:7`,
      seq: 7,
      type: "training_progress",
      status: "delivered",
    };
    const outbox = infra.db.collection<CallbackDelivery>(CALLBACK_OUTBOX_COLLECTION);
    const settled = infra.db.collection<CallbackDelivery>(CALLBACK_DELIVERIES_COLLECTION);
    // the outbox holds what is still to deliver; a settled copy with a lower revision is stale
    await outbox.insertOne(delivery);
    await settled.insertMany([{ ...delivery, status: "delivered", revision: 1 }, progress]);
    const pushed = await page.waitFor(
      "both deliveries",
      is("deliveries", (m) => m.job_id === jobId && m.deliveries.length === 2),
    );
    assert.deepEqual(
      pushed.deliveries.map((d) => [d.id, d.type, d.status, d.attempts[0]?.status_code]),
      [
        [`${jobId}:7`, "training_progress", "delivered", 503],
        [`${jobId}:42`, "training_completed", "retrying", 503],
      ],
      "both collections, the current copy of each callback, in job order",
    );
    await outbox.deleteOne({ _id: delivery._id });
    await settled.replaceOne({ _id: delivery._id }, { ...delivery, status: "delivered", revision: 3 });
    const moved = await page.waitFor(
      "delivered",
      is("deliveries", (m) => m.deliveries.at(-1)?.status === "delivered"),
    );
    assert.equal(moved.deliveries.length, 2);
    page.close();
  });

  it("lists agents from the agents bucket with their GPUs, warnings past PRD 10.3, and keeps them in MongoDB", async () => {
    const overview = await feed();
    await overview.waitFor("overview", is("overview"));
    const kv = await openKv(infra.nc, Bucket.agents);
    const beat: AgentHeartbeat = {
      agent_id: "hot-host-1",
      host: "hot-host",
      slots: [{ index: 0, device: "cuda:0", name: "NVIDIA RTX 4090" }],
      gpus: [
        {
          device: "cuda:0",
          name: "NVIDIA RTX 4090",
          utilization_percent: 99,
          memory_used_bytes: 23.5e9,
          memory_total_bytes: 24e9,
          temperature_c: 91,
        },
      ],
      draining: false,
      started_at: new Date().toISOString(),
      seen_at: new Date().toISOString(),
    };
    await kv.put(beat.agent_id, JSON.stringify(beat));
    const listed = await overview.waitFor(
      "agents",
      is("agents", (m) => m.agents.some((a) => a.agent_id === "hot-host-1")),
    );
    const agent = listed.agents.find((a) => a.agent_id === "hot-host-1")!;
    assert.equal(agent.online, true);
    assert.deepEqual(agent.gpus[0]?.warnings, ["temperature", "memory"]);
    // the overview hears first; the collection keeps it for a restarted dashboard
    await until("the agent's document", async () =>
      (await infra.db.collection(AGENTS_COLLECTION).countDocuments({ _id: "hot-host-1" } as object)) === 1
        ? true
        : null,
    );
    await kv.delete(beat.agent_id);
    await overview.waitFor(
      "agent offline",
      is("agents", (m) => m.agents.some((a) => a.agent_id === "hot-host-1" && !a.online)),
    );
    overview.close();
  });

  it("cancels through the gateway with the dashboard's own token, and tells the pages at once", async () => {
    const queued = randomUUID();
    await jobs().insertOne({ ...queuedJob(queued), created_at: new Date() });
    const overview: FeedRecorder = await feed();
    await overview.waitFor("overview", is("overview"));
    const cancel = (headers: Record<string, string>) =>
      http(dashboard.url, `/api/jobs/${queued}/cancel`, { method: "POST", headers: authed(headers), body: "{}" });
    assert.equal((await cancel({})).status, 415, "a form post cannot cancel");
    assert.equal((await cancel({ "content-type": "application/json", origin: "http://evil.example" })).status, 403);
    assert.equal(gateway.calls.length, 0);
    const res = await cancel({ "content-type": "application/json", origin: dashboard.url });
    assert.equal(res.status, 200, res.body);
    assert.deepEqual(gateway.calls, [
      { method: "DELETE", url: `/api/v1/jobs/${queued}`, authorization: `Bearer ${GATEWAY_TOKEN}` },
    ]);
    const pushed = await overview.waitFor(
      "cancelled",
      is("job", (m) => m.job.job_id === queued && m.job.status === "cancelled"),
    );
    assert.ok(pushed.counts && pushed.counts.cancelled >= 1);
    overview.close();
  });

  it("streams PRD 5.3 progress events, then completed, as Server-Sent Events", async () => {
    const streamed = randomUUID();
    await jobs().insertOne({ ...queuedJob(streamed), created_at: new Date() });
    let opened: () => void = () => undefined;
    const open = new Promise<void>((resolve) => (opened = resolve));
    const received = http(dashboard.url, `/stream/progress/${streamed}`, { headers: authed(), onResponse: opened });
    // the stream opens with the job's state; then its run is published
    await open;
    await publish(happyPath(streamed), "sse");
    const res = await received;
    assert.equal(res.status, 200);
    assert.match(String(res.headers["content-type"]), /^text\/event-stream/);
    const events = res.body
      .split("\n\n")
      .filter((frame) => frame.includes("event: "))
      .map((frame) => {
        const event = /event: (\w+)/.exec(frame)?.[1];
        const data = JSON.parse(/data: (.*)/.exec(frame)?.[1] ?? "null") as Record<string, unknown>;
        return { event, data };
      });
    assert.equal(events[0]?.event, "progress");
    assert.deepEqual(
      events.filter((e) => e.event === "progress").map((e) => e.data.epoch),
      [null, null, null, 1, 2],
      "the initial state, downloading, preparing, then each epoch (assigned changes nothing shown)",
    );
    const done = events.at(-1);
    assert.equal(done?.event, "completed", "the stream ends with completed");
    assert.equal(done?.data.final_mAP50, 0.8);
    assert.match(String(done?.data.model_url), new RegExp(`/models/${streamed}\\.pt\\?expires=`));
  });

  it("serves the built UI for / and /jobs/:id with a strict CSP, and nothing outside it", async () => {
    const home = await http(dashboard.url, "/");
    assert.equal(home.status, 200, "the page itself is public: it shows the login form");
    assert.match(String(home.headers["content-type"]), /^text\/html/);
    assert.match(String(home.headers["content-security-policy"]), /img-src 'self' data: http:\/\/gateway\.example;/);
    const page = await http(dashboard.url, `/jobs/${jobId}`);
    assert.equal(page.body, home.body, "/jobs/:id is the same single-page app");
    const script = /src="(\/assets\/[^"]+\.js)"/.exec(home.body)?.[1];
    assert.ok(script, "index.html references a built script");
    const asset = await http(dashboard.url, script);
    assert.equal(asset.status, 200);
    assert.match(String(asset.headers["content-type"]), /^text\/javascript/);
    for (const path of ["/../package.json", "/%2e%2e/package.json", "/assets/..%2f..%2fpackage.json", "/nope.js"]) {
      assert.equal((await http(dashboard.url, path)).status, 404, path);
    }
  });

  it("shows the scheduler's queue live: its order (not creation order) and start estimates", async () => {
    const [older, newer, running] = [randomUUID(), randomUUID(), randomUUID()];
    const created = Date.now() - 60_000;
    await jobs().insertMany([
      queuedJob(older, new Date(created)),
      queuedJob(newer, new Date(created + 1000)),
      { ...queuedJob(running, new Date(created - 1000)), status: "training", eta_seconds: 120 },
    ]);
    const page = await feed();
    await page.waitFor("overview", is("overview"));
    const queue = await openKv(infra.nc, Bucket.queue);
    const put = (id: string, seq: number, placed = false) =>
      queue.put(id, JSON.stringify(queueEntry(id, seq, { placed })));
    await put(running, 1, true);
    // the newer job's dataset was ready first, so the scheduler takes it first
    await put(newer, 2);
    await put(older, 3);
    const now = Date.now();
    const shown = await page.waitFor(
      "both jobs in the queue",
      is("queue", (m) => m.queue.waiting.length === 2),
    );
    assert.deepEqual(
      shown.queue.waiting.map((w) => w.job_id),
      [newer, older],
      "expected the scheduler's order",
    );
    assert.deepEqual(shown.queue.assigned, [running]);
    // no live agent counts as one slot: the running job's ETA, then one typical job (the completed one's 60 s)
    const [first, second] = shown.queue.waiting.map((w) => (Date.parse(w.estimated_start_time) - now) / 1000);
    assert.ok(first !== undefined && Math.abs(first - 120) < 10, `expected the front job in ~120 s, got ${first}`);
    assert.ok(second !== undefined && Math.abs(second - 180) < 10, `expected the next in ~180 s, got ${second}`);
    const rest = JSON.parse((await http(dashboard.url, "/api/overview", { headers: authed() })).body) as Overview;
    assert.deepEqual(
      rest.queue.waiting.map((w) => w.job_id),
      [newer, older],
      "expected the overview to show the same queue",
    );

    await put(newer, 2, true);
    await page.waitFor(
      "the older job at the front",
      is("queue", (m) => m.queue.waiting.length === 1 && m.queue.waiting[0]?.job_id === older),
    );
    for (const id of [older, newer, running]) await queue.delete(id);
    await jobs().deleteMany({ _id: { $in: [older, newer, running] } });
    page.close();
  });

  it("refuses a live feed to a page from another origin", async () => {
    await assert.rejects(openFeed(dashboard.url, { cookie, origin: "http://evil.example" }), /upgrade refused: 403/);
    const same = await openFeed(dashboard.url, { cookie, origin: dashboard.url });
    await same.waitFor("overview", is("overview"));
    same.close();
  });

  it("without DASHBOARD_TOKEN the dashboard is open for reading; cancel and downloads are refused", async () => {
    await dashboard.stop();
    const open = await infra.start({
      gateway: { url: gateway.url, token: GATEWAY_TOKEN },
      downloads: { publicBaseUrl: "http://gateway.example", secret: DOWNLOAD_SECRET },
    });
    const session = JSON.parse((await http(open.url, "/api/session")).body) as SessionInfo;
    assert.deepEqual(session, {
      auth_required: false,
      authenticated: true,
      can_cancel: false,
      can_download: false,
      app_url_template: null,
    });
    assert.equal((await http(open.url, "/api/overview")).status, 200);
    const calls = gateway.calls.length;
    const cancel = await http(open.url, `/api/jobs/${jobId}/cancel`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    assert.equal(cancel.status, 403);
    assert.match(cancel.body, /set DASHBOARD_TOKEN/);
    assert.equal(gateway.calls.length, calls, "nothing reached the gateway");
    const download = await http(open.url, `/api/jobs/${jobId}/files/model`);
    assert.equal(download.status, 403);
  });
});
