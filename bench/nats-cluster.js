// What the 3-node NATS cluster costs against one server, in one sitting on this machine.
//   1. job events: JetStream publish → ack of JobEvent-shaped epoch events with a message id
//      onto JOB_EVENTS (the agents' path: `publishJobEvent`), on a single nats-server and on a
//      local 3-node cluster with every stream R3, both with `sync_interval: always` and the
//      provisioner's topology. Latency with one event in flight (p50 / p99 over
//      BENCH_LATENCY_EVENTS, default 2000) and throughput with BENCH_IN_FLIGHT publishes in
//      flight (default 64, BENCH_EVENTS per round, default 20000); BENCH_ROUNDS rounds of each
//      (default 3), alternating, ratio of the medians.
//   2. an agent's NATS work, with the agent's own upload code (`jobFiles`, 512 KiB chunks) and
//      outcome claim: an epoch's event and one upload of the 30 MB resume checkpoint (Ultralytics'
//      last.pt with the optimizer state, at 128 px; what each paced upload costs); at the end, the job's critical path: best.pt
//      (6.2 MB), three plots, results.csv and the log, the outcome claim and `completed`.
//      BENCH_AGENT_ROUNDS rounds (default 5), alternating; medians.
//   3. a real training end to end: the whole stack (secured NATS, FerretDB, the six services, one
//      agent) once on a single server and once on the cluster, both up at once; the demo's dataset
//      (96 train / 24 val images at 128 px, batch 16) trained BENCH_JOB_EPOCHS epochs (default 5),
//      timed from POST /api/v1/train to the training_completed callback, with the agents'
//      checkpoint pacing at its default (BENCH_CHECKPOINT_SHARE=1 uploads every epoch, as before
//      the pacing) and the checkpoints each job uploaded counted from the agents' logs; one unmeasured warm-up
//      job per stack, then BENCH_JOB_ROUNDS jobs on each (default 5), alternating. Prints each
//      time, the medians and what the cluster costs as a share of the single server's job, and
//      the CPU the NATS servers used per job (all nodes together) and while both stacks idle
//      (BENCH_IDLE_S, default 20), and the CPU of the whole stack per job (trainer included),
//      read from /proc: on a shared machine wall times move with everything else that runs, CPU
//      per job much less.
// Usage: node bench/nats-cluster.js   (after a build: pnpm build)
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { randomBytes, randomUUID } from "node:crypto";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { JOB_EVENTS_STREAM } from "@trainyard/contracts";
import {
  connectNats,
  DEFAULT_TOPOLOGY,
  openJobOutcomes,
  openObjectStore,
  provisionTopology,
  publishJobEvent,
  publishOutcome,
} from "@trainyard/runtime";
import {
  exampleTrainRequest,
  makeSyntheticDataset,
  repoRoot,
  serveFiles,
  startCallbackReceiver,
  startNats,
  startNatsCluster,
  startStack,
} from "@trainyard/stack";

const { epochEvent: testEpochEvent, completedEvent } = await import(
  join(repoRoot, "services/notifier/dist/testing/job-events.js")
);
const { jobFiles } = await import(join(repoRoot, "services/trainer-agent/dist/adapters/job-files.js"));
const LATENCY_EVENTS = Number(process.env.BENCH_LATENCY_EVENTS ?? 2000);
const EVENTS = Number(process.env.BENCH_EVENTS ?? 20000);
const IN_FLIGHT = Number(process.env.BENCH_IN_FLIGHT ?? 64);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const AGENT_ROUNDS = Number(process.env.BENCH_AGENT_ROUNDS ?? 5);
const JOB_EPOCHS = Number(process.env.BENCH_JOB_EPOCHS ?? 5);
const JOB_ROUNDS = Number(process.env.BENCH_JOB_ROUNDS ?? 5);
const IDLE_S = Number(process.env.BENCH_IDLE_S ?? 20);
const clock = () => performance.now();
const round = (n, d = 1) => Math.round(n * 10 ** d) / 10 ** d;
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
const quiet = () => {};
/** The stacks' lines that report a problem (pino level warn and above, or not JSON), on stderr. */
const problems = (name, line) => {
  if (!line.startsWith("{") || /"level":(4|5|6)0/.test(line)) console.error(`${name} | ${line}`);
};
/** Resume checkpoints the agents uploaded, by job id (paced by CHECKPOINT_UPLOAD_SHARE). */
const checkpointUploads = new Map();
const stackSink = (name, line) => {
  problems(name, line);
  if (line.includes('"msg":"checkpoint uploaded"')) {
    const { job_id: jobId } = JSON.parse(line);
    checkpointUploads.set(jobId, (checkpointUploads.get(jobId) ?? 0) + 1);
  }
};
/** The agents' pacing of checkpoint uploads: the default unless BENCH_CHECKPOINT_SHARE says (1: every epoch). */
const CHECKPOINT_SHARE = process.env.BENCH_CHECKPOINT_SHARE;
const topology = (replicas) => ({
  ...DEFAULT_TOPOLOGY,
  replicas,
  // as the launcher: every node shares this machine's disk
  streamMaxBytes: 512 * 1024 ** 2,
  objectStoreMaxBytes: 4 * 1024 ** 3,
});

/**
 * CPU milliseconds (user + system) a process has used so far, from /proc, with `children` also
 * those of its children that have exited (a trainer, once its agent has reaped it); null where
 * there is none.
 */
function cpuMs(pid, children = false) {
  const path = `/proc/${pid}/stat`;
  if (pid === undefined || !existsSync(path)) return null;
  const fields = readFileSync(path, "utf8").split(") ")[1].split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]) + (children ? Number(fields[13]) + Number(fields[14]) : 0);
  return (ticks * 1000) / 100; // clock ticks of 10 ms
}
const cpuOf = (processes, children = false) =>
  processes.reduce((sum, p) => sum + (cpuMs(p.child.pid, children) ?? 0), 0);

const dir = mkdtempSync(join(tmpdir(), "bench-nats-cluster-"));
console.error(
  `[bench] load average at start ${loadavg()
    .map((l) => l.toFixed(2))
    .join(" ")}`,
);

// --- 1. job events on one server and on the cluster
const single = await startNats(join(dir, "single"), quiet);
const cluster = await startNatsCluster(join(dir, "cluster"), quiet);
const targets = {
  single: { url: single.url, processes: [single.process], replicas: 1 },
  cluster: { url: cluster.url, processes: cluster.nodes.map((n) => n.process), replicas: 3 },
};
for (const target of Object.values(targets)) {
  target.nc = await connectNats(target.url, "bench-nats-cluster");
  await provisionTopology(target.nc, topology(target.replicas));
  target.js = jetstream(target.nc);
}

/** A job's epoch event, as an agent publishes it, with the agent's message id. */
const publishEpoch = (target, jobId, epoch) =>
  publishJobEvent(
    target.js,
    { ...testEpochEvent(jobId, epoch, 100_000), at: new Date().toISOString() },
    `${jobId}:epoch:${epoch}`,
  );

const eventResults = { single: { latencies: [], rates: [], cpu: [] }, cluster: { latencies: [], rates: [], cpu: [] } };
for (const [name, target] of Object.entries(targets)) {
  // warm-up: connections, stream leaders, the JIT
  const jobId = randomUUID();
  for (let i = 1; i <= 200; i++) await publishEpoch(target, jobId, i);
  const latencies = eventResults[name].latencies;
  const latencyJob = randomUUID();
  for (let i = 1; i <= LATENCY_EVENTS; i++) {
    const started = clock();
    await publishEpoch(target, latencyJob, i);
    latencies.push(clock() - started);
  }
  latencies.sort((a, b) => a - b);
}
for (let r = 0; r < ROUNDS; r++) {
  for (const [name, target] of Object.entries(targets)) {
    const jobs = Array.from({ length: IN_FLIGHT }, () => randomUUID());
    const perJob = Math.ceil(EVENTS / IN_FLIGHT);
    const cpuBefore = cpuOf(target.processes);
    const started = clock();
    await Promise.all(
      jobs.map(async (jobId) => {
        for (let epoch = 1; epoch <= perJob; epoch++) await publishEpoch(target, jobId, epoch);
      }),
    );
    const seconds = (clock() - started) / 1000;
    eventResults[name].rates.push((perJob * IN_FLIGHT) / seconds);
    eventResults[name].cpu.push((1000 * (cpuOf(target.processes) - cpuBefore)) / (perJob * IN_FLIGHT));
  }
}
// an agent's NATS work, on files of a real job's sizes
const fileDir = join(dir, "job-files");
mkdirSync(fileDir, { recursive: true });
const sizes = {
  "last.pt": 30_451_047,
  "best.pt": 6_191_210,
  "confusion_matrix.png": 123_116,
  "pr_curve.png": 83_909,
  "f1_curve.png": 71_177,
  "results.csv": 1_102,
  "logs.txt": 15_500,
};
for (const [name, bytes] of Object.entries(sizes)) writeFileSync(join(fileDir, name), randomBytes(bytes));
const agentResults = { single: { epoch: [], end: [] }, cluster: { epoch: [], end: [] } };
for (const target of Object.values(targets)) {
  const artifacts = await openObjectStore(target.nc, "artifacts");
  target.files = jobFiles(artifacts, artifacts, { forMs: 0 });
  target.outcomes = await openJobOutcomes(target.nc);
}
for (let r = 0; r < AGENT_ROUNDS; r++) {
  for (const [name, target] of Object.entries(targets)) {
    const jobId = randomUUID();
    let started = clock();
    await publishEpoch(target, jobId, 1);
    await target.files.uploadArtifact(`${jobId}/last.pt`, join(fileDir, "last.pt"));
    agentResults[name].epoch.push(clock() - started);
    started = clock();
    for (const file of Object.keys(sizes).filter((f) => f !== "last.pt")) {
      await target.files.uploadArtifact(`${jobId}/${file}`, join(fileDir, file));
    }
    await publishOutcome(target.outcomes, (event, msgId) => publishJobEvent(target.js, event, msgId), {
      ...completedEvent(jobId),
      at: new Date().toISOString(),
    });
    agentResults[name].end.push(clock() - started);
  }
}
const agentWork = Object.fromEntries(
  Object.entries(agentResults).map(([name, r]) => [
    name,
    {
      epoch_ms: r.epoch.map(Math.round),
      end_of_job_ms: r.end.map(Math.round),
      median_epoch_ms: Math.round(median(r.epoch)),
      median_end_of_job_ms: Math.round(median(r.end)),
    },
  ]),
);

const streamBytes = {};
for (const [name, target] of Object.entries(targets)) {
  const jsm = await jetstreamManager(target.nc);
  streamBytes[name] = (await jsm.streams.info(JOB_EVENTS_STREAM)).state.bytes;
  await target.nc.close();
}
await Promise.all([single.process.stop(), ...cluster.nodes.map((n) => n.process.stop())]);
const events = Object.fromEntries(
  Object.entries(eventResults).map(([name, r]) => [
    name,
    {
      latency_ms: {
        p50: round(percentile(r.latencies, 50), 2),
        p90: round(percentile(r.latencies, 90), 2),
        p99: round(percentile(r.latencies, 99), 2),
        max: round(r.latencies.at(-1), 2),
      },
      events_per_s: r.rates.map(Math.round),
      nats_cpu_us_per_event: r.cpu.map(Math.round),
    },
  ]),
);
console.error(
  `[bench] job events done; load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(" ")}`,
);

// --- 3. a real training on each stack
const datasetDir = join(dir, "datasets");
await makeSyntheticDataset({ out: join(datasetDir, "shapes.zip"), train: 96, val: 24, size: 128, seed: 7 });
const datasetServer = await serveFiles(datasetDir);
const secret = randomBytes(18).toString("base64url");
const receiver = await startCallbackReceiver(secret);
const stackEnv = {
  RATE_LIMIT_PER_MINUTE: "0",
  RATE_LIMIT_PER_TOKEN_PER_MINUTE: "0",
  ...(CHECKPOINT_SHARE ? { CHECKPOINT_UPLOAD_SHARE: CHECKPOINT_SHARE } : {}),
};
const stacks = {
  single: await startStack({ runDir: join(dir, "stack-single"), sink: stackSink, env: stackEnv }),
  cluster: await startStack({ runDir: join(dir, "stack-cluster"), cluster: true, sink: stackSink, env: stackEnv }),
};
const natsProcesses = (stack) => stack.nats.nodes.map((n) => n.process);

// the standing cost: what the NATS servers burn while every service idles (heartbeats, leases, raft)
const idleBefore = Object.fromEntries(Object.entries(stacks).map(([name, s]) => [name, cpuOf(natsProcesses(s))]));
await new Promise((resolve) => setTimeout(resolve, IDLE_S * 1000));
const idleCpuPercent = Object.fromEntries(
  Object.entries(stacks).map(([name, s]) => [
    name,
    round((100 * (cpuOf(natsProcesses(s)) - idleBefore[name])) / (1000 * IDLE_S), 1),
  ]),
);

/** POSTs one job and waits for its terminal callback; its wall time, training time, split and NATS CPU. */
async function trainOnce(stack, epochs) {
  const request = exampleTrainRequest({
    datasetUrl: datasetServer.urlOf("shapes.zip"),
    callbackUrl: receiver.url,
    callbackSecret: secret,
    epochs,
    imageSize: 128,
    batchSize: 16,
  });
  const cpuBefore = cpuOf(natsProcesses(stack));
  const stackCpuBefore = cpuOf(stack.processes, true);
  const started = clock();
  const postedAt = Date.now();
  const res = await stack.api("/api/v1/train", { method: "POST", body: JSON.stringify(request) });
  if (res.status !== 202) throw new Error(`POST /train answered ${res.status}: ${await res.text()}`);
  const own = () => receiver.received.filter((c) => c.body.job_id === request.job_id);
  await receiver.waitFor(
    () => own().some((c) => c.body.type !== "training_progress"),
    30 * 60_000,
    `job ${request.job_id} to end`,
  );
  const seconds = (clock() - started) / 1000;
  const terminal = own().at(-1);
  if (terminal.body.type !== "training_completed")
    throw new Error(`the job did not complete: ${JSON.stringify(terminal.body)}`);
  // where the time went, by the callbacks' arrival: up to the first epoch, the epochs, the rest
  const trained = own().filter((c) => c.body.type === "training_progress" && c.body.progress.phase === "training");
  const at = (c) => (c.receivedAt.getTime() - postedAt) / 1000;
  return {
    seconds,
    checkpoints: checkpointUploads.get(request.job_id) ?? 0,
    training: terminal.body.duration_seconds,
    split: [at(trained[0]), at(trained.at(-1)) - at(trained[0]), at(terminal) - at(trained.at(-1))],
    natsCpuMs: cpuOf(natsProcesses(stack)) - cpuBefore,
    // every process of the stack, the trainer included: what the job cost the machine
    stackCpuMs: cpuOf(stack.processes, true) - stackCpuBefore,
  };
}

const jobs = { single: [], cluster: [] };
for (const stack of Object.values(stacks)) await trainOnce(stack, 1);
for (let r = 0; r < JOB_ROUNDS; r++) {
  // alternate which goes first, so neither always follows the other
  const order = r % 2 === 0 ? ["single", "cluster"] : ["cluster", "single"];
  for (const name of order) {
    const result = await trainOnce(stacks[name], JOB_EPOCHS);
    jobs[name].push(result);
    console.error(`[bench] round ${r + 1} ${name}: ${result.seconds.toFixed(1)} s`);
  }
}
await receiver.close();
await datasetServer.close();
for (const stack of Object.values(stacks)) await stack.stop();
rmSync(dir, { recursive: true, force: true });

const jobMedian = (name, key) => median(jobs[name].map((j) => j[key]));
console.log(
  JSON.stringify(
    {
      job_events: {
        latency_events: LATENCY_EVENTS,
        throughput: { events_per_round: EVENTS, in_flight: IN_FLIGHT, rounds: ROUNDS },
        ...events,
        stream_bytes_per_replica: streamBytes,
        ratio_cluster_single: {
          latency_p50: round(
            percentile(eventResults.cluster.latencies, 50) / percentile(eventResults.single.latencies, 50),
            2,
          ),
          latency_p99: round(
            percentile(eventResults.cluster.latencies, 99) / percentile(eventResults.single.latencies, 99),
            2,
          ),
          throughput_medians: round(median(eventResults.cluster.rates) / median(eventResults.single.rates), 2),
        },
      },
      agent_nats_work: {
        rounds: AGENT_ROUNDS,
        ...agentWork,
        end_of_job_cluster_minus_single_ms: Math.round(
          median(agentResults.cluster.end) - median(agentResults.single.end),
        ),
      },
      training: {
        dataset: "96 train / 24 val, 128 px, batch 16",
        epochs: JOB_EPOCHS,
        rounds: JOB_ROUNDS,
        single_s: jobs.single.map((j) => round(j.seconds)),
        cluster_s: jobs.cluster.map((j) => round(j.seconds)),
        checkpoint_upload_share: CHECKPOINT_SHARE ?? "default (CHECKPOINT_UPLOAD_SHARE)",
        checkpoints_uploaded_per_job: {
          single: jobs.single.map((j) => j.checkpoints),
          cluster: jobs.cluster.map((j) => j.checkpoints),
        },
        single_training_s: jobs.single.map((j) => j.training),
        cluster_training_s: jobs.cluster.map((j) => j.training),
        // seconds: POST → first epoch, first → last epoch, last epoch → training_completed
        single_split_s: jobs.single.map((j) => j.split.map((x) => round(x))),
        cluster_split_s: jobs.cluster.map((j) => j.split.map((x) => round(x))),
        nats_idle_cpu_percent_of_a_core: idleCpuPercent,
        nats_cpu_s_per_job: {
          single: jobs.single.map((j) => round(j.natsCpuMs / 1000, 2)),
          cluster: jobs.cluster.map((j) => round(j.natsCpuMs / 1000, 2)),
        },
        stack_cpu_s_per_job: {
          single: jobs.single.map((j) => round(j.stackCpuMs / 1000)),
          cluster: jobs.cluster.map((j) => round(j.stackCpuMs / 1000)),
        },
        // the same, paired: each round's cluster job against the single server's job of that round
        paired_difference_s: jobs.cluster.map((j, i) => round(j.seconds - jobs.single[i].seconds)),
        median_single_s: round(jobMedian("single", "seconds")),
        median_cluster_s: round(jobMedian("cluster", "seconds")),
        cluster_cpu_cost_percent: round(
          (100 * (jobMedian("cluster", "stackCpuMs") - jobMedian("single", "stackCpuMs"))) /
            jobMedian("single", "stackCpuMs"),
        ),
        cluster_cost_percent: round(
          (100 * (jobMedian("cluster", "seconds") - jobMedian("single", "seconds"))) / jobMedian("single", "seconds"),
        ),
      },
      load_average_at_end: loadavg().map((l) => round(l, 2)),
    },
    null,
    2,
  ),
);
