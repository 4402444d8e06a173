// Callback delivery against a bare HTTP client, in one sitting on this machine. Starts nats-server,
// FerretDB and the real notifier process, then measures:
//   latency: epoch event published → its callback received by a local receiver, one event at a
//            time (p50 / p99 / max over BENCH_LATENCY_EVENTS, default 2000);
//   throughput: callbacks/s while BENCH_JOBS concurrent jobs (default 100) publish BENCH_EPOCHS
//            epochs each (default 100) as fast as NATS takes them, first publish → last callback;
// and beside it a bare undici POST loop (the same number of concurrent loops, the same bodies)
// to the same receiver, in a child process like the notifier; BENCH_ROUNDS rounds (default 3)
// of each, alternating, so both see the same machine. Prints each rate and the ratio of the
// medians. The receiver runs in its own process and reports each receipt (time taken on
// arrival) to this one. Where /proc exists it also prints the CPU time each process used per
// callback in the notifier rounds (until every event is acknowledged) and per POST in the bare
// rounds, in microseconds: where the CPU goes, and a measure a busy machine skews less.
// Usage: node bench/notifier-callbacks.js   (after a build: npx tsc -b)
import { fork } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Bucket, Consumer, JOB_EVENTS_STREAM, Subject } from "@trainyard/contracts";
import { connectNats, ensureStreams, openKv } from "@trainyard/runtime";
import { repoRoot, startFerret, startNats, supervise } from "@trainyard/stack";

const require = createRequire(join(repoRoot, "services/notifier/package.json"));
const { epochEvent: testEpochEvent } = await import(join(repoRoot, "services/notifier/dist/testing/job-events.js"));
const self = fileURLToPath(import.meta.url);
const LATENCY_EVENTS = Number(process.env.BENCH_LATENCY_EVENTS ?? 2000);
const JOBS = Number(process.env.BENCH_JOBS ?? 100);
const EPOCHS = Number(process.env.BENCH_EPOCHS ?? 100);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const clock = () => performance.timeOrigin + performance.now();

/** CPU milliseconds (user + system) a process has used so far, from /proc; null where there is none. */
function cpuMs(pid) {
  const path = `/proc/${pid}/stat`;
  if (pid === undefined || !existsSync(path)) return null;
  const fields = readFileSync(path, "utf8").split(") ")[1].split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // clock ticks of 10 ms
}

/** A job's epoch event, as a trainer-agent publishes it (the notifier's test builder, stamped now). */
const epochEvent = (jobId, epoch, total) => ({ ...testEpochEvent(jobId, epoch, total), at: new Date().toISOString() });

// --- the baseline worker: `node notifier-callbacks.js --baseline <url> <loops> <posts-per-loop>`
if (process.argv[2] === "--baseline") {
  const { Agent, request } = require("undici");
  const [url, loops, perLoop] = [process.argv[3], Number(process.argv[4]), Number(process.argv[5])];
  const agent = new Agent({ connections: loops });
  const bodies = Array.from({ length: loops }, () => {
    const jobId = randomUUID();
    return Array.from({ length: perLoop }, (_, i) =>
      JSON.stringify({ type: "training_progress", ...epochEvent(jobId, i + 1, perLoop) }),
    );
  });
  const cpuAtStart = process.cpuUsage();
  const started = clock();
  await Promise.all(
    bodies.map(async (own) => {
      for (const body of own) {
        const res = await request(url, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body,
          dispatcher: agent,
        });
        await res.body.dump();
      }
    }),
  );
  const cpu = process.cpuUsage(cpuAtStart);
  process.send({ seconds: (clock() - started) / 1000, posts: loops * perLoop, cpuMs: (cpu.user + cpu.system) / 1000 });
  await agent.close();
  process.exit(0);
}

// --- the receiver worker: answers 204 and reports `[<job_id>:<epoch>, time]` receipts in batches
if (process.argv[2] === "--receiver") {
  let batch = [];
  const server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const at = clock();
      res.writeHead(204).end();
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      if (batch.length === 0) setImmediate(() => (process.send(batch), (batch = [])));
      batch.push([`${body.job_id}:${body.progress?.current_epoch ?? body.type}`, at]);
    });
  });
  server.listen(0, "127.0.0.1", () => process.send({ url: `http://127.0.0.1:${server.address().port}/hook` }));
  process.on("disconnect", () => process.exit(0));
} else {
  // --- the bench
  const dir = mkdtempSync(join(tmpdir(), "bench-notifier-"));
  const quiet = () => {};
  const [nats, ferret] = await Promise.all([
    startNats(join(dir, "nats"), quiet),
    startFerret(join(dir, "ferret"), quiet),
  ]);
  const nc = await connectNats(nats.url, "bench");
  const jsm = await ensureStreams(nc);
  const js = jsm.jetstream();
  const targets = await openKv(nc, Bucket.callbackTargets);

  /** Callback receipts: `<job_id>:<epoch>` → receive time; `waiters` wake on each one. */
  const received = new Map();
  const waiters = new Set();
  let receivedCount = 0;
  // the receiver runs in its own process, so publishing here does not slow it down
  const receiver = fork(self, ["--receiver"], { stdio: "inherit" });
  const url = await new Promise((resolve) => receiver.once("message", (m) => resolve(m.url)));
  receiver.on("message", (batch) => {
    for (const [key, at] of batch) received.set(key, at);
    receivedCount += batch.length;
    for (const wake of waiters) wake();
  });
  const until = (predicate) =>
    new Promise((resolve) => {
      const check = () => {
        if (!predicate()) return;
        waiters.delete(check);
        resolve();
      };
      waiters.add(check);
      check();
    });

  let ready;
  const delivering = new Promise((resolve) => (ready = resolve));
  const nodeArgs = (process.env.BENCH_NOTIFIER_NODE_ARGS ?? "").split(" ").filter(Boolean); // e.g. --cpu-prof
  const notifier = supervise(
    "notifier",
    process.execPath,
    [...nodeArgs, join(repoRoot, "services/notifier/dist/main.js")],
    {
      env: {
        ...process.env,
        NATS_URL: nats.url,
        MONGO_URL: ferret.url,
        PUBLIC_BASE_URL: "http://127.0.0.1:8080",
        DOWNLOAD_URL_SECRET: "bench-download-secret-0123456789",
        OUTBOUND_ALLOW_PRIVATE: "true",
        LOG_LEVEL: "info",
      },
      sink: (_name, line) => {
        if (line.includes('"msg":"delivering callbacks"')) ready();
        if (process.env.BENCH_NOTIFIER_LOGS || /"level":(4|5|6)0/.test(line)) console.error(line);
      },
    },
  );
  await delivering;

  let msgs = 0;
  const publish = (event) =>
    js.publish(Subject.jobEvent(event.job_id, event.type), JSON.stringify(event), { msgID: `bench-${msgs++}` });
  const startJob = async (totalEpochs) => {
    const jobId = randomUUID();
    await targets.put(jobId, JSON.stringify({ url, secret: `sk_bench_${jobId}` }));
    const at = new Date().toISOString();
    await publish({ type: "queued", job_id: jobId, at, model_name: "bench", total_epochs: totalEpochs });
    return jobId;
  };

  // 1. latency, one event in flight
  const latencyJobs = await Promise.all(Array.from({ length: 20 }, () => startJob(LATENCY_EVENTS / 20)));
  const latencies = [];
  for (let i = 0; i < LATENCY_EVENTS; i++) {
    const jobId = latencyJobs[i % latencyJobs.length];
    const epoch = Math.floor(i / latencyJobs.length) + 1;
    const published = clock();
    await publish(epochEvent(jobId, epoch, LATENCY_EVENTS / latencyJobs.length));
    await until(() => received.has(`${jobId}:${epoch}`));
    latencies.push(received.get(`${jobId}:${epoch}`) - published);
  }
  latencies.sort((a, b) => a - b);
  const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))];

  /** Resolves once the notifier has acknowledged every job event: each callback is in the log. */
  const settled = async () => {
    for (;;) {
      const info = await jsm.consumers.info(JOB_EVENTS_STREAM, Consumer.notifier);
      if (info.num_pending === 0 && info.num_ack_pending === 0) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };

  // 2. throughput, JOBS concurrent jobs publishing their epochs as fast as NATS takes them, and
  // 3. the bare undici loop to the same receiver, in its own process; ROUNDS of each, alternating
  const total = JOBS * EPOCHS;
  const notifierRates = [];
  const baselineRates = [];
  const pids = {
    notifier: notifier.child.pid,
    nats: nats.process.child.pid,
    ferretdb: ferret.process.child.pid,
    receiver: receiver.pid,
    bench: process.pid,
  };
  const cpuNow = () => Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, cpuMs(pid)]));
  const cpuUsed = { notifier_rounds: {}, bare_rounds: {} };
  const addCpu = (into, before, after) => {
    for (const [name, ms] of Object.entries(after)) {
      if (ms !== null && before[name] !== null) into[name] = (into[name] ?? 0) + ms - before[name];
    }
  };
  for (let round = 0; round < ROUNDS; round++) {
    const jobs = await Promise.all(Array.from({ length: JOBS }, () => startJob(EPOCHS)));
    const before = receivedCount;
    const cpuBefore = cpuNow();
    const started = clock();
    for (let epoch = 1; epoch <= EPOCHS; epoch++) {
      await Promise.all(jobs.map((jobId) => publish(epochEvent(jobId, epoch, EPOCHS))));
    }
    await until(() => receivedCount - before >= total);
    notifierRates.push(total / ((clock() - started) / 1000));
    // the notifier finishes logging and acknowledging before the bare loop gets the machine
    await settled();
    const cpuBetween = cpuNow();
    addCpu(cpuUsed.notifier_rounds, cpuBefore, cpuBetween);

    const baseline = await new Promise((resolve, reject) => {
      const child = fork(self, ["--baseline", url, String(JOBS), String(EPOCHS)], { stdio: "inherit" });
      child.on("message", resolve);
      child.on("exit", (code) => code !== 0 && reject(new Error(`baseline exited ${code}`)));
    });
    baselineRates.push(baseline.posts / baseline.seconds);
    addCpu(cpuUsed.bare_rounds, cpuBetween, { ...cpuNow(), bare_client: null });
    cpuUsed.bare_rounds.bare_client = (cpuUsed.bare_rounds.bare_client ?? 0) + baseline.cpuMs;
  }
  /** CPU microseconds per callback (or POST) of each process in a window. */
  const perCallback = (used) =>
    Object.fromEntries(Object.entries(used).map(([name, ms]) => [name, Math.round((1000 * ms) / (total * ROUNDS))]));
  const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

  const round = (n, d = 1) => Math.round(n * 10 ** d) / 10 ** d;
  const notifierRate = median(notifierRates);
  const baselineRate = median(baselineRates);
  console.log(
    JSON.stringify(
      {
        latency_ms: {
          events: latencies.length,
          p50: round(pct(50)),
          p90: round(pct(90)),
          p99: round(pct(99)),
          max: round(latencies.at(-1)),
        },
        throughput: {
          jobs: JOBS,
          callbacks_per_round: total,
          rounds: ROUNDS,
          notifier_callbacks_per_s: notifierRates.map(Math.round),
          bare_undici_posts_per_s: baselineRates.map(Math.round),
          median_ratio: round(notifierRate / baselineRate, 2),
        },
        ...(cpuNow().bench === null
          ? {}
          : {
              cpu_us_per_callback: {
                notifier_rounds: perCallback(cpuUsed.notifier_rounds),
                bare_rounds: perCallback(cpuUsed.bare_rounds),
              },
            }),
      },
      null,
      2,
    ),
  );

  await notifier.stop();
  receiver.disconnect();
  await nc.close();
  await Promise.all([nats.process.stop(), ferret.process.stop()]);
  rmSync(dir, { recursive: true, force: true });
}
