/**
 * What the gateway reads from the real queue state (FerretDB projection, agents' heartbeats in
 * NATS KV): `estimated_start_time` of the 202 (PRD 7.1) and GET /metrics (PRD 7.6, 10.2).
 */
import assert from "node:assert/strict";
import { after, before, beforeEach, describe, test } from "node:test";
import { TrainAccepted, type JobStatus } from "@trainyard/contracts";
import {
  FIXED_NOW,
  TYPICAL_JOB_SECONDS,
  at,
  call,
  clearJobsAndAgents,
  cpuSlots,
  expectStatus,
  newRequest,
  putAgent,
  putJob,
  startFixedClockHarness,
  startHarness,
  type Harness,
} from "./testing/harness.js";

describe("estimated_start_time from the real queue", () => {
  let h: Harness;

  before(async () => {
    h = await startFixedClockHarness();
  });

  after(async () => {
    await h?.close();
  });

  beforeEach(async () => {
    await clearJobsAndAgents(h);
  });

  async function submit(): Promise<string> {
    const res = await call(h, "POST", "/api/v1/train", { body: newRequest() });
    expectStatus(res, 202, "a job");
    return TrainAccepted.parse(res.body).estimated_start_time;
  }

  test("an idle agent: the job starts now", async () => {
    await putAgent(h, { agent_id: "a", slots: cpuSlots(1) });
    assert.equal(await submit(), at(0));
  });

  test("a busy slot: after the running job's ETA, then one typical job per job ahead", async () => {
    await putAgent(h, { agent_id: "a", slots: cpuSlots(1) });
    await putJob(h, { status: "training", eta_seconds: 600 });
    assert.equal(await submit(), at(600), "expected the first job to wait for the running job's ETA");
    assert.equal(await submit(), at(600 + TYPICAL_JOB_SECONDS), "expected the second to wait for the first, too");
  });

  test("the typical job is the mean of recently completed jobs' durations", async () => {
    await putAgent(h, { agent_id: "a", slots: cpuSlots(1) });
    await putJob(h, { status: "completed", duration_seconds: 100, finished_at: FIXED_NOW });
    await putJob(h, { status: "completed", duration_seconds: 300, finished_at: FIXED_NOW });
    await putJob(h, { status: "training", eta_seconds: 50 });
    await submit();
    assert.equal(await submit(), at(50 + 200), "expected the job ahead to take the mean of 100 s and 300 s");
  });

  test("more slots (across agents) shorten the wait", async () => {
    await putAgent(h, { agent_id: "a", slots: cpuSlots(1) });
    await putAgent(h, { agent_id: "b", slots: cpuSlots(1) });
    await putJob(h, { status: "training", eta_seconds: 900 });
    await putJob(h, { status: "training", eta_seconds: 300 });
    assert.equal(await submit(), at(300), "expected the slot that frees first");
    assert.equal(await submit(), at(900), "expected the other slot for the next job");
  });
});

describe("GET /metrics", () => {
  let h: Harness;

  before(async () => {
    h = await startHarness();
  });

  after(async () => {
    await h?.close();
  });

  /** The samples of the exposition, keyed by `name{labels}`. */
  async function scrape(): Promise<Map<string, number>> {
    const res = await call(h, "GET", "/metrics", { token: null });
    expectStatus(res, 200, "the metrics, which need no token");
    assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
    const samples = new Map<string, number>();
    for (const line of res.text.split("\n")) {
      if (line === "" || line.startsWith("#")) continue;
      const match = /^(\S+) (\S+)$/.exec(line);
      assert.ok(match, `expected "name value" lines, got ${JSON.stringify(line)}`);
      samples.set(match[1] ?? "", Number(match[2]));
    }
    return samples;
  }

  test("job counts, durations and GPU readings come from the projection and the heartbeats", async () => {
    const put = (status: JobStatus, extra = {}) => putJob(h, { status, ...extra });
    for (const duration of [50, 700, 4000])
      await put("completed", { duration_seconds: duration, finished_at: new Date() });
    await put("failed");
    await put("failed");
    await put("cancelled");
    await put("training");
    await put("training");
    for (let i = 0; i < 4; i++) await put("queued");
    await putAgent(h, {
      agent_id: "gpu-a",
      gpus: [
        {
          device: "cuda:0",
          name: "NVIDIA H100",
          utilization_percent: 87.5,
          memory_used_bytes: 1e9,
          memory_total_bytes: 8e10,
          temperature_c: 70,
        },
        {
          device: "cuda:1",
          name: "NVIDIA H100",
          utilization_percent: null,
          memory_used_bytes: 2e9,
          memory_total_bytes: 8e10,
          temperature_c: null,
        },
      ],
    });
    await putAgent(h, { agent_id: "cpu-b", slots: cpuSlots(2) });

    const m = await scrape();
    const expected: Array<[string, number]> = [
      ['training_jobs_total{status="completed"}', 3],
      ['training_jobs_total{status="failed"}', 2],
      ['training_jobs_total{status="cancelled"}', 1],
      ['training_duration_seconds_bucket{le="60"}', 1],
      ['training_duration_seconds_bucket{le="600"}', 1],
      ['training_duration_seconds_bucket{le="1800"}', 2],
      ['training_duration_seconds_bucket{le="3600"}', 2],
      ['training_duration_seconds_bucket{le="7200"}', 3],
      ['training_duration_seconds_bucket{le="+Inf"}', 3],
      ["training_duration_seconds_sum", 4750],
      ["training_duration_seconds_count", 3],
      ['gpu_utilization_percent{device="cuda:0",agent="gpu-a"}', 87.5],
      ['gpu_memory_used_bytes{device="cuda:0",agent="gpu-a"}', 1e9],
      ['gpu_memory_used_bytes{device="cuda:1",agent="gpu-a"}', 2e9],
      ['gpu_temperature_celsius{device="cuda:0",agent="gpu-a"}', 70],
      ["active_training_jobs", 2],
      ["queue_size", 4],
    ];
    for (const [sample, value] of expected) assert.equal(m.get(sample), value, `expected ${sample} ${value}`);
    assert.equal(
      m.has('gpu_utilization_percent{device="cuda:1",agent="gpu-a"}'),
      false,
      "expected a missing reading left out",
    );
    assert.equal(m.has('training_jobs_total{status="training"}'), false, "expected only finished statuses counted");
  });

  test("a cancelled job, once projected, moves from queue_size to the cancelled counter", async () => {
    const before = await scrape();
    const request = newRequest();
    expectStatus(await call(h, "POST", "/api/v1/train", { body: request }), 202, "a job");
    expectStatus(await call(h, "DELETE", `/api/v1/jobs/${request.job_id}`), 200, "its cancel");
    // the dashboard's projector applies the gateway's CANCELLED event (no projector runs here)
    await h.jobs.updateOne({ _id: request.job_id }, { $set: { status: "cancelled" } });
    const after = await scrape();
    const cancelled = 'training_jobs_total{status="cancelled"}';
    assert.equal(after.get(cancelled), (before.get(cancelled) ?? 0) + 1, "expected the counter one higher");
    assert.equal(after.get("queue_size"), before.get("queue_size"), "expected the queue back where it was");
  });
});
