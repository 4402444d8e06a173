/**
 * The gateway while a dependency hangs: the real FerretDB or nats-server process is frozen with
 * SIGSTOP (connections stay open, nothing answers: the hardest case for timeouts), then thawed.
 * Every route must answer in bounded time with a 503, never a 500, and /health must say which
 * dependency is down.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { Health } from "@trainyard/contracts";
import type { Supervised } from "@trainyard/stack";
import {
  call,
  expectError,
  expectStatus,
  newRequest,
  putAgent,
  startHarness,
  waitFor,
  type Answer,
  type Harness,
} from "./testing/harness.js";

const DEPENDENCY_TIMEOUT_MS = 800;
const HEALTH_TIMEOUT_MS = 500;
/** Timeouts plus generous slack for a slow CI machine. */
const ANSWER_WITHIN_MS = DEPENDENCY_TIMEOUT_MS * 2 + 1500;

function freeze(process: Supervised): () => void {
  const pid = process.child.pid;
  assert.ok(pid, `expected ${process.name} running`);
  global.process.kill(pid, "SIGSTOP");
  return () => global.process.kill(pid, "SIGCONT");
}

async function timed(work: () => Promise<Answer>): Promise<Answer & { ms: number }> {
  const started = Date.now();
  const res = await work();
  return { ...res, ms: Date.now() - started };
}

describe("dependency outages", () => {
  let h: Harness;
  let known = "";

  before(async () => {
    h = await startHarness({ healthTimeoutMs: HEALTH_TIMEOUT_MS }, { dependencyTimeoutMs: DEPENDENCY_TIMEOUT_MS });
    await putAgent(h, { agent_id: "gpu-host-1" });
    const request = newRequest();
    expectStatus(await call(h, "POST", "/api/v1/train", { body: request }), 202, "a job to read during outages");
    known = request.job_id;
  });

  after(async () => {
    await h?.close();
  });

  async function waitHealthy(): Promise<void> {
    await waitFor("the gateway to report healthy again", async () => {
      const res = await call(h, "GET", "/health", { token: null });
      return res.status === 200 && (res.body as Health).status === "healthy";
    });
  }

  test("MongoDB hangs: /health answers quickly, 503 unhealthy, naming MongoDB", async () => {
    const thaw = freeze(h.ferret);
    try {
      const res = await timed(() => call(h, "GET", "/health", { token: null }));
      expectStatus(res, 503, "health with MongoDB frozen");
      assert.ok(res.ms < HEALTH_TIMEOUT_MS + 1500, `expected an answer within the health timeout, took ${res.ms} ms`);
      const body = Health.parse(res.body);
      assert.equal(body.status, "unhealthy");
      assert.equal(body.checks.mongodb.status, "down");
      assert.equal(body.checks.nats.status, "up", "expected NATS still up");
      assert.equal(body.queue_size, null, "expected no made-up count");
      assert.equal(body.active_jobs, null, "expected no made-up count");
      assert.match(body.checks.mongodb.error ?? "", /no answer within 500 ms/);
    } finally {
      thaw();
    }
    await waitHealthy();
  });

  test("MongoDB hangs: every API route answers 503 SERVICE_UNAVAILABLE in bounded time", async () => {
    const request = newRequest();
    const thaw = freeze(h.ferret);
    try {
      const routes: Array<[string, string, object?]> = [
        ["POST", "/api/v1/train", { body: request }],
        ["GET", `/api/v1/jobs/${known}`],
        ["GET", "/api/v1/jobs"],
        ["DELETE", `/api/v1/jobs/${known}`],
        ["GET", "/metrics"],
      ];
      for (const [method, path, opts] of routes) {
        const res = await timed(() => call(h, method, path, opts));
        expectError(res, 503, "SERVICE_UNAVAILABLE", `${method} ${path} with MongoDB frozen`);
        assert.ok(res.ms < ANSWER_WITHIN_MS, `expected ${method} ${path} answered in time, took ${res.ms} ms`);
        assert.equal(res.headers.get("retry-after"), "5");
        assert.match((res.body as { detail: string }).detail, /mongodb is not reachable/);
      }
    } finally {
      thaw();
    }
    await waitHealthy();
    // the POST that timed out left nothing behind: its job id is still free
    expectStatus(await call(h, "POST", "/api/v1/train", { body: request }), 202, "the same job after the outage");
    expectStatus(await call(h, "GET", `/api/v1/jobs/${known}`), 200, "the job read after the outage");
  });

  test("NATS hangs: /health 503 naming NATS; POST and DELETE 503; reads from MongoDB still work", async () => {
    const thaw = freeze(h.nats);
    try {
      const health = await timed(() => call(h, "GET", "/health", { token: null }));
      expectStatus(health, 503, "health with NATS frozen");
      assert.ok(health.ms < HEALTH_TIMEOUT_MS + 1500, `expected a quick health answer, took ${health.ms} ms`);
      const body = Health.parse(health.body);
      assert.equal(body.checks.nats.status, "down");
      assert.equal(body.checks.mongodb.status, "up");
      assert.equal(body.checks.agents.status, "down", "expected no agent known while NATS is down");

      const request = newRequest();
      const post = await timed(() => call(h, "POST", "/api/v1/train", { body: request }));
      expectError(post, 503, "SERVICE_UNAVAILABLE", "POST with NATS frozen");
      assert.ok(post.ms < ANSWER_WITHIN_MS, `expected POST answered in time, took ${post.ms} ms`);
      assert.equal(await h.store.get(request.job_id), null, "expected no job stored without NATS");
      expectError(
        await call(h, "DELETE", `/api/v1/jobs/${known}`),
        503,
        "SERVICE_UNAVAILABLE",
        "DELETE with NATS frozen",
      );
      expectStatus(await call(h, "GET", `/api/v1/jobs/${known}`), 200, "a GET, which needs only MongoDB");
      expectStatus(await call(h, "GET", `/api/v1/jobs/${randomUUID()}`), 404, "an unknown job, still a 404");
    } finally {
      thaw();
    }
    await waitHealthy();
    const view = await call(h, "GET", `/api/v1/jobs/${known}`);
    assert.equal((view.body as { status: string }).status, "queued", "expected the DELETE during the outage undone");
  });
});
