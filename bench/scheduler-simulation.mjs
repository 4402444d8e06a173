#!/usr/bin/env node
// Load test of the scheduler service with SIMULATED trainer-agents (a load-testing tool only:
// no Ultralytics, an agent "trains" by waiting a given time). A real nats-server and the real
// scheduler process; 100 simulated agents with 8 slots each announce heartbeats, take their
// assignments and report completion after each job's duration.
// Prints: assignment latency p50/p99 (dataset-ready published -> assignment received, for jobs
// that found a free slot), assignments per second, makespan / ideal (total work / slots), and
// makespan / the makespan of an overhead-free FIFO queue replaying the same jobs in the same
// order (what the scheduler itself costs, apart from where FIFO order leaves slots idle at the end).
// Usage: node bench/scheduler-simulation.mjs [agents=100] [slotsPerAgent=8] [jobs=5000] [meanSeconds=10]
import { randomUUID } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream } from "@nats-io/jetstream";
import { Bucket, Subject } from "@trainyard/contracts";
import { connectNats, ensureStreams, openKv, publishJobEvent, publishJson } from "@trainyard/runtime";
import { repoRoot, startNats, supervise } from "@trainyard/stack";

const [agents = 100, slotsPerAgent = 8, jobs = 5000, meanSeconds = 10] = process.argv.slice(2).map(Number);
const dir = mkdtempSync(join(tmpdir(), "trainyard-sched-bench-"));
const nats = await startNats(join(dir, "nats"), () => {});
const scheduler = supervise("scheduler", process.execPath, [join(repoRoot, "services/scheduler/dist/main.js")], {
  env: { ...process.env, NATS_URL: nats.url, LOG_LEVEL: "warn" },
  sink: (name, line) => line.includes('"level":50') && console.error(`${name}: ${line}`),
});
const nc = await connectNats(nats.url, "scheduler-bench");
await ensureStreams(nc);
const js = jetstream(nc);
const agentKv = await openKv(nc, Bucket.agents);

const slotCount = agents * slotsPerAgent;
const heartbeat = async () => {
  const now = new Date().toISOString();
  await Promise.all(
    Array.from({ length: agents }, (_, a) =>
      agentKv.put(
        `sim-${a}`,
        JSON.stringify({
          agent_id: `sim-${a}`,
          host: `sim-${a}`,
          slots: Array.from({ length: slotsPerAgent }, (_, i) => ({
            index: i,
            device: `cuda:${i}`,
            name: "simulated GPU",
          })),
          gpus: [],
          draining: false,
          started_at: now,
          seen_at: now,
        }),
      ),
    ),
  );
};
await heartbeat();
const beats = setInterval(() => void heartbeat(), 5000);
// measure a running scheduler, not its start-up: wait until a replica leads
const leaderKv = await openKv(nc, Bucket.schedulerLeader);
while (!(await leaderKv.get("leader"))?.value.length) await new Promise((r) => setTimeout(r, 50));

// durations: uniform in [0.5, 1.5] x mean, fixed by a simple LCG so runs compare
let seed = 42;
const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
const duration = new Map();
const publishedAt = new Map();
const assignedAt = new Map();
let totalWork = 0;
let finished = 0;
let lastFinish = 0;
let busy = 0;
const latencies = [];
const slotsFreeAtPublish = new Map();
let done;
const allDone = new Promise((resolve) => (done = resolve));
let phase2 = false;

const sub = nc.subscribe("train.assign.*");
void (async () => {
  for await (const msg of sub) {
    const a = msg.json();
    if (assignedAt.has(a.job_id)) continue; // a re-published assignment
    const now = performance.now();
    assignedAt.set(a.job_id, now);
    busy++;
    if (slotsFreeAtPublish.get(a.job_id)) latencies.push(now - publishedAt.get(a.job_id));
    setTimeout(
      () => {
        busy--;
        void publishJobEvent(js, completedEvent(a), `${a.job_id}:terminal`).then(() => {
          finished++;
          lastFinish = performance.now();
          if (phase2 && finished === jobs) done();
        });
      },
      duration.get(a.job_id) * 1000,
    );
  }
})();

function completedEvent(a) {
  const at = new Date().toISOString();
  const metrics = {
    mAP50: 0,
    "mAP50-95": 0,
    precision: 0,
    recall: 0,
    box_loss: 0,
    cls_loss: 0,
    dfl_loss: 0,
    best_epoch: 1,
    total_epochs: 1,
  };
  const none = { confusion_matrix: null, pr_curve: null, f1_curve: null, results_csv: null, training_logs: null };
  return {
    type: "completed",
    job_id: a.job_id,
    at,
    started_at: at,
    duration_seconds: 0,
    model: { name: "sim", object_name: "x", size_bytes: 0 },
    final_metrics: metrics,
    artifacts: none,
    dataset_info: a.dataset_info,
  };
}

const info = { total_images: 1, train_images: 1, val_images: 0, classes: ["c"], class_distribution: { c: 1 } };
function readyOf(jobId) {
  return {
    job_id: jobId,
    requested_at: new Date().toISOString(),
    model_config: {
      name: "sim",
      base_model: "yolov8n.pt",
      epochs: 1,
      batch_size: 1,
      image_size: 64,
      learning_rate: 0.01,
    },
    dataset: { url: "https://example.com/d.zip", format: "yolo" },
    dataset_object: `sha256/${"a".repeat(64)}.zip`,
    dataset_root: "",
    dataset_sha256: "a".repeat(64),
    dataset_info: info,
  };
}
async function submit(jobId, seconds, measure) {
  duration.set(jobId, seconds);
  slotsFreeAtPublish.set(jobId, measure);
  publishedAt.set(jobId, performance.now());
  await publishJson(js, Subject.datasetReady, readyOf(jobId), `${jobId}:dataset-ready`);
}

// Phase 1, latency: jobs arrive one by one (every 20 ms) on an idle cluster, so a slot is free.
// The first WARM_UP jobs are not measured (the scheduler's consumers attaching, JIT warm-up).
const WARM_UP = 20;
const probes = 200;
for (let i = 0; i < WARM_UP + probes; i++) {
  await submit(randomUUID(), 0.2, i >= WARM_UP);
  await new Promise((r) => setTimeout(r, 20));
}
while (finished < WARM_UP + probes) await new Promise((r) => setTimeout(r, 50));

// Phase 2, throughput and makespan: a burst of `jobs` jobs, far more than the slots.
finished = 0;
phase2 = true;
let wave;
const waveDone = new Promise((resolve) => (wave = resolve));
const waveSize = Math.min(slotCount, jobs);
const waveStart = assignedAt.size;
const watchWave = setInterval(() => assignedAt.size - waveStart >= waveSize && wave(performance.now()), 5);
const started = performance.now();
const burst = [];
// published by many producers at once (gateways, dataset workers), so that arrivals are not
// throttled by one publisher's round trips
const PUBLISHERS = 32;
for (let i = 0; i < jobs; i++) {
  const seconds = meanSeconds * (0.5 + rand());
  totalWork += seconds;
  burst.push(seconds);
}
let next = 0;
let published = 0;
let wavePublished = 0;
await Promise.all(
  Array.from({ length: PUBLISHERS }, async () => {
    while (next < jobs) {
      await submit(randomUUID(), burst[next++], false);
      if (++published === waveSize) wavePublished = performance.now();
    }
  }),
);
const waveEnd = await waveDone;
clearInterval(watchWave);
await allDone;
const makespan = (lastFinish - started) / 1000;
const ideal = totalWork / slotCount;
const fifo = fifoMakespan(burst, slotCount);
// longest first: not a FIFO queue, and it needs the durations in advance; shown only as a bound
const longestFirst = fifoMakespan(
  [...burst].sort((a, b) => b - a),
  slotCount,
);
latencies.sort((x, y) => x - y);
const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))];
console.log(`agents=${agents} slots=${slotCount} jobs=${jobs} mean job=${meanSeconds}s`);
console.log(
  `assignment latency with a free slot: p50 ${pct(50).toFixed(1)} ms, p99 ${pct(99).toFixed(1)} ms (${latencies.length} jobs)`,
);
console.log(
  `assignments per second filling ${waveSize} slots from a burst: ${(waveSize / ((waveEnd - started) / 1000)).toFixed(0)} ` +
    `(the first ${waveSize} jobs published in ${((wavePublished - started) / 1000).toFixed(2)} s, ` +
    `all assigned ${((waveEnd - started) / 1000).toFixed(2)} s after the first publish)`,
);
console.log(
  `makespan ${makespan.toFixed(1)} s, ideal (total work / slots) ${ideal.toFixed(1)} s, ratio ${(makespan / ideal).toFixed(3)}`,
);
console.log(
  `the same jobs in the same order on an overhead-free FIFO scheduler (every job starts the instant a slot frees): ` +
    `makespan ${fifo.toFixed(1)} s, ratio to ideal ${(fifo / ideal).toFixed(3)} ` +
    `(overhead-free longest-job-first: ${(longestFirst / ideal).toFixed(3)})`,
);
console.log(`scheduler overhead: makespan / overhead-free FIFO ${(makespan / fifo).toFixed(3)}`);
clearInterval(beats);
await sub.drain();
await nc.close();
await scheduler.stop();
await nats.process.stop();

/**
 * Makespan of list scheduling with no overhead at all: jobs, all queued at time 0, start in
 * order on whichever slot frees first. The best any FIFO queue can do with these durations.
 */
function fifoMakespan(durations, slots) {
  const heap = new Array(slots).fill(0); // slot free times, a binary min-heap
  for (const d of durations) {
    heap[0] += d;
    for (let i = 0; ;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < slots && heap[l] < heap[m]) m = l;
      if (r < slots && heap[r] < heap[m]) m = r;
      if (m === i) break;
      [heap[i], heap[m]] = [heap[m], heap[i]];
      i = m;
    }
  }
  return Math.max(...heap);
}
