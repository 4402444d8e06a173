import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { jetstream, type JetStreamClient } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { JOBS_COLLECTION, PROJECTION_DB, type ApiError, type JobRecord } from "@trainyard/contracts";
import { connectNats, createLogger, publishJobEvent } from "@trainyard/runtime";
import { startFerret, startNats, type Supervised } from "@trainyard/stack";
import { MongoClient } from "mongodb";
import { WebSocket } from "ws";
import { DEFAULT_UI_DIR, startDashboard, type Dashboard } from "./dashboard.js";
import { epochEvent, happyPath, queuedJob } from "./job-fixtures.js";
import type { JobDetail, JobList, LiveMessage } from "./job-wire.js";

const DEADLINE_MS = 20_000;

/** Collects the /ws feed and resolves waits as soon as a matching message is there. */
class FeedRecorder {
  readonly messages: LiveMessage[] = [];
  #waiters: Array<() => void> = [];

  constructor(readonly socket: WebSocket) {
    socket.on("message", (data) => {
      this.messages.push(JSON.parse((data as Buffer).toString("utf8")) as LiveMessage);
      for (const wake of this.#waiters) wake();
    });
  }

  waitFor(what: string, match: (m: LiveMessage) => boolean): Promise<LiveMessage> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.messages.find(match);
        if (!found) return false;
        clearTimeout(timer);
        this.#waiters = this.#waiters.filter((w) => w !== wake);
        resolve(found);
        return true;
      };
      const wake = () => void check();
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== wake);
        reject(
          new Error(
            `no ${what} on /ws within ${DEADLINE_MS} ms; got ${JSON.stringify(this.messages.map((m) => m.type))}`,
          ),
        );
      }, DEADLINE_MS);
      if (!check()) this.#waiters.push(wake);
    });
  }
}

async function until<T>(what: string, probe: () => Promise<T | null | undefined>): Promise<T> {
  const deadline = Date.now() + DEADLINE_MS;
  for (;;) {
    const value = await probe();
    if (value !== null && value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${DEADLINE_MS} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A raw GET, so paths reach the server exactly as written (fetch would normalize `..`). */
function get(url: string, path: string, method = "GET"): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url + path, { method }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, type: String(res.headers["content-type"]), body }));
    });
    req.on("error", reject);
    req.end();
  });
}

function openFeed(url: string, origin?: string): Promise<FeedRecorder> {
  const socket = new WebSocket(`${url.replace(/^http/, "ws")}/ws`, origin ? { origin } : {});
  const feed = new FeedRecorder(socket);
  return new Promise((resolve, reject) => {
    socket.once("open", () => resolve(feed));
    socket.once("error", reject);
    socket.once("unexpected-response", (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
  });
}

describe("dashboard against real NATS JetStream and FerretDB", () => {
  let dir = "";
  const infra: Supervised[] = [];
  const infraLog: string[] = [];
  let dashboard: Dashboard | undefined;
  let mongo: MongoClient | undefined;
  let nc: NatsConnection | undefined;
  let js: JetStreamClient;
  const jobId = randomUUID();
  const jobs = () => mongo!.db(PROJECTION_DB).collection<JobRecord>(JOBS_COLLECTION);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "trainyard-dashboard-"));
    const sink = (name: string, line: string) => infraLog.push(`${name} | ${line}`);
    const nats = await startNats(join(dir, "nats"), sink);
    infra.push(nats.process);
    const ferret = await startFerret(join(dir, "ferret"), sink);
    infra.push(ferret.process);
    // The root build builds the UI before the tests; build it here only when run on its own.
    if (!existsSync(join(DEFAULT_UI_DIR, "index.html"))) {
      const pkg = dirname(DEFAULT_UI_DIR);
      execFileSync(
        process.execPath,
        [join(pkg, "node_modules/vite/bin/vite.js"), "build", "--config", "vite.config.js", "--logLevel", "warn"],
        { cwd: pkg },
      );
    }
    mongo = await MongoClient.connect(ferret.url);
    dashboard = await startDashboard({
      natsUrl: nats.url,
      mongoUrl: ferret.url,
      host: "127.0.0.1",
      port: 0,
      log: createLogger("dashboard", "warn"),
    });
    nc = await connectNats(nats.url, "dashboard-test");
    js = jetstream(nc);
  });

  after(async () => {
    await dashboard?.stop();
    await nc?.drain();
    await mongo?.close();
    for (const proc of infra.reverse()) await proc.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("projects a job's events into its document and pushes every change over /ws in order", async () => {
    // as the gateway does at POST time
    await jobs().insertOne(queuedJob(jobId, new Date()));
    const feed = await openFeed(dashboard!.url);
    const snapshot = await feed.waitFor("snapshot", (m) => m.type === "snapshot");
    assert.equal(feed.messages[0]?.type, "snapshot", "the snapshot comes first");
    assert.equal(snapshot.type === "snapshot" && snapshot.jobs.find((j) => j.job_id === jobId)?.status, "queued");
    assert.ok(snapshot.counts.queued >= 1, "the counts include the queued job");

    // An event for a job without a document is skipped, not retried forever: later ones still flow.
    await publishJobEvent(js, epochEvent(randomUUID(), 1, 50), randomUUID());
    const events = happyPath(jobId);
    for (const [i, event] of events.entries()) await publishJobEvent(js, event, `${jobId}-${i}`);

    await feed.waitFor(
      "the completed job",
      (m) => m.type === "job" && m.job.job_id === jobId && m.job.status === "completed",
    );
    const updates = feed.messages.flatMap((m) => (m.type === "job" && m.job.job_id === jobId ? [m.job] : []));
    assert.deepEqual(
      updates.map((j) => [j.status, j.phase, j.progress]),
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
    assert.equal(updates[1]?.agent_id, "gpu-host-1");
    const seqs = updates.map((j) => j.last_event_seq);
    assert.deepEqual(
      [...seqs].sort((a, b) => a - b),
      seqs,
      "sequences increase",
    );
    const last = updates.at(-1)!;
    assert.equal(typeof last.finished_at, "string", "dates travel as ISO strings");
    assert.equal(last.history.length, 2);
    assert.ok(!("_id" in last), "the wire names the id job_id");

    const doc = await jobs().findOne({ _id: jobId });
    assert.equal(doc?.status, "completed");
    assert.equal(doc?.progress, 100);
    assert.deepEqual(
      doc?.history.map((p) => p.epoch),
      [1, 2],
    );
    assert.equal(doc?.final_metrics?.best_epoch, 2);
    assert.equal(doc?.model_object, `${jobId}/best.pt`);
    assert.equal(doc?.dataset_info?.total_images, 12);
    assert.ok(doc?.started_at instanceof Date && doc.finished_at instanceof Date);
    assert.equal(doc?.last_event_seq, last.last_event_seq);
    feed.socket.close();
  });

  it("a late event does not reopen a finished job", async () => {
    const before = await jobs().findOne({ _id: jobId });
    await publishJobEvent(js, epochEvent(jobId, 1, 50), randomUUID());
    const after = await until("the late event to be consumed", async () => {
      const doc = await jobs().findOne({ _id: jobId });
      return doc && doc.last_event_seq > before!.last_event_seq ? doc : null;
    });
    assert.equal(after.status, "completed");
    assert.equal(after.progress, 100);
    assert.equal(after.history.length, 2);
  });

  it("answers /api/jobs, /api/jobs/:id and /healthz", async () => {
    const list = await get(dashboard!.url, "/api/jobs");
    assert.equal(list.status, 200);
    assert.match(list.type, /^application\/json/);
    const body = JSON.parse(list.body) as JobList;
    assert.equal(body.jobs.find((j) => j.job_id === jobId)?.status, "completed");
    assert.equal(body.counts.completed, 1);

    const one = await get(dashboard!.url, `/api/jobs/${jobId}`);
    assert.equal(one.status, 200);
    const detail = JSON.parse(one.body) as JobDetail;
    assert.equal(detail.model_config.base_model, "yolov8n.pt");
    assert.equal(detail.history.length, 2);

    const missing = await get(dashboard!.url, `/api/jobs/${randomUUID()}`);
    assert.equal(missing.status, 404);
    assert.equal((JSON.parse(missing.body) as ApiError).code, "JOB_NOT_FOUND");
    assert.equal((await get(dashboard!.url, "/api/jobs/not-a-uuid")).status, 404);

    const health = await get(dashboard!.url, "/healthz");
    assert.equal(health.status, 200);
    assert.deepEqual(JSON.parse(health.body), { status: "ok", mongo: true, nats: true });
  });

  it("serves the built UI for / and /jobs/:id, its assets with their types, and nothing outside it", async () => {
    const home = await get(dashboard!.url, "/");
    assert.equal(home.status, 200);
    assert.match(home.type, /^text\/html/);
    assert.match(home.body, /<div id="app"><\/div>/);
    const page = await get(dashboard!.url, `/jobs/${jobId}`);
    assert.equal(page.body, home.body, "/jobs/:id is the same single-page app");

    const script = /src="(\/assets\/[^"]+\.js)"/.exec(home.body)?.[1];
    assert.ok(script, "index.html references a built script");
    const asset = await get(dashboard!.url, script);
    assert.equal(asset.status, 200);
    assert.match(asset.type, /^text\/javascript/);

    for (const path of ["/../package.json", "/%2e%2e/package.json", "/assets/..%2f..%2fpackage.json", "/nope.js"]) {
      assert.equal((await get(dashboard!.url, path)).status, 404, path);
    }
    assert.equal((await get(dashboard!.url, "/api/jobs", "POST")).status, 405);
  });

  it("refuses a live feed to a page from another origin", async () => {
    await assert.rejects(openFeed(dashboard!.url, "http://evil.example"), /upgrade refused: 403/);
    const sameOrigin = await openFeed(dashboard!.url, dashboard!.url);
    await sameOrigin.waitFor("snapshot", (m) => m.type === "snapshot");
    sameOrigin.socket.close();
  });
});
