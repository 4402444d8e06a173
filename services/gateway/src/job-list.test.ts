/** GET /api/v1/jobs (PRD 7.4) against real FerretDB: filter, total, pages, newest first. */
import assert from "node:assert/strict";
import { after, before, beforeEach, describe, test } from "node:test";
import { JobList, JobSummary, type JobStatus } from "@trainyard/contracts";
import { call, expectError, expectStatus, newRequest, putJob, startHarness, type Harness } from "./testing/harness.js";

const T0 = Date.parse("2025-01-20T10:00:00Z");

describe("GET /api/v1/jobs", () => {
  let h: Harness;

  before(async () => {
    h = await startHarness();
  });

  after(async () => {
    await h?.close();
  });

  beforeEach(async () => {
    await h.jobs.deleteMany({});
  });

  async function list(query = ""): Promise<JobList> {
    const res = await call(h, "GET", `/api/v1/jobs${query}`);
    expectStatus(res, 200, `GET /api/v1/jobs${query}`);
    return JobList.parse(res.body);
  }

  /** Jobs created one second apart, the last one newest. */
  async function putJobs(statuses: JobStatus[]): Promise<string[]> {
    const ids: string[] = [];
    for (const [i, status] of statuses.entries()) {
      ids.push((await putJob(h, { status, created_at: new Date(T0 + i * 1000) }))._id);
    }
    return ids;
  }

  test("all jobs newest first, with the total and exactly the PRD 7.4 fields", async () => {
    const ids = await putJobs(["queued", "training", "completed", "failed", "cancelled"]);
    const res = await call(h, "GET", "/api/v1/jobs");
    expectStatus(res, 200, "the list");
    const page = JobList.parse(res.body);
    assert.equal(page.total, 5);
    assert.deepEqual(
      page.jobs.map((j) => j.job_id),
      [...ids].reverse(),
      "expected newest first",
    );
    const entries = (res.body as { jobs: object[] }).jobs;
    assert.deepEqual(
      Object.keys(entries[0] ?? {}).sort(),
      ["created_at", "job_id", "model_name", "progress", "status"],
      "expected only the PRD 7.4 fields for a job that is not queued",
    );
    assert.deepEqual(
      Object.keys(entries[4] ?? {}).sort(),
      Object.keys(JobSummary.shape).sort(),
      "expected a queued job to add its place in the queue, and nothing else",
    );
    assert.deepEqual(page.jobs[0], {
      job_id: ids[4],
      model_name: newRequest().model_config.name,
      status: "cancelled",
      progress: 0,
      created_at: new Date(T0 + 4000).toISOString(),
    });
  });

  test("status filters jobs and the total", async () => {
    const ids = await putJobs(["queued", "completed", "queued", "failed", "queued"]);
    const page = await list("?status=queued");
    assert.equal(page.total, 3, "expected the total of queued jobs only");
    assert.deepEqual(
      page.jobs.map((j) => j.job_id),
      [ids[4], ids[2], ids[0]],
    );
    assert.deepEqual(await list("?status=training"), { total: 0, jobs: [] }, "expected an empty page, not a 404");
  });

  test("limit and offset page through the jobs; the total counts them all", async () => {
    const ids = [...(await putJobs(Array<JobStatus>(7).fill("queued")))].reverse();
    assert.deepEqual(
      (await list("?limit=3")).jobs.map((j) => j.job_id),
      ids.slice(0, 3),
    );
    const second = await list("?limit=3&offset=3");
    assert.equal(second.total, 7);
    assert.deepEqual(
      second.jobs.map((j) => j.job_id),
      ids.slice(3, 6),
    );
    assert.deepEqual(
      (await list("?limit=3&offset=6")).jobs.map((j) => j.job_id),
      ids.slice(6),
    );
    assert.deepEqual(await list("?offset=100"), { total: 7, jobs: [] }, "expected an empty page past the end");
  });

  test("limit defaults to 50 and may be at most 100", async () => {
    for (let i = 0; i < 120; i++) await putJob(h, { created_at: new Date(T0 + i) });
    const page = await list();
    assert.equal(page.jobs.length, 50, "expected 50 jobs by default");
    assert.equal(page.total, 120);
    assert.equal((await list("?limit=100")).jobs.length, 100);
    const error = expectError(await call(h, "GET", "/api/v1/jobs?limit=101"), 400, "INVALID_PARAMETER", "limit=101");
    assert.deepEqual(
      error.errors?.map((e) => e.path),
      ["limit"],
    );
  });

  test("jobs created in the same millisecond are paged without repeats or gaps", async () => {
    const ids = await Promise.all(
      Array.from({ length: 5 }, async () => (await putJob(h, { created_at: new Date(T0) }))._id),
    );
    const seen: string[] = [];
    for (let offset = 0; offset < 5; offset += 2)
      seen.push(...(await list(`?limit=2&offset=${offset}`)).jobs.map((j) => j.job_id));
    assert.deepEqual([...seen].sort(), [...ids].sort(), "expected every job exactly once");
  });

  test("unknown parameters are ignored", async () => {
    await putJobs(["queued"]);
    assert.equal((await list("?foo=bar&sort=asc&limit=1")).total, 1);
  });

  test("a job accepted a moment ago is listed at once", async () => {
    const request = newRequest();
    expectStatus(await call(h, "POST", "/api/v1/train", { body: request }), 202, "a new job");
    assert.equal((await list()).jobs[0]?.job_id, request.job_id, "expected the new job first");
  });
});
