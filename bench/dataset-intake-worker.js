// Runs one dataset intake (download through the SSRF guard, the zip guard's full check of every
// entry, YOLO validation) the way the dataset service does, in its own process so its peak RSS is
// its own. Storage and NATS are left out: the figure is download + extract-check + validate.
// Usage: node bench/dataset-intake-worker.js <url> <work-dir>; prints one JSON line.
import { readFileSync } from "node:fs";
import { randomUUID } from "node:crypto";
import { createLogger, guardedAgent } from "../packages/runtime/dist/index.js";
import { downloadArchive } from "../services/dataset/dist/adapters/download.js";
import { ArchiveTree } from "../services/dataset/dist/archive-tree.js";
import { intakeDataset } from "../services/dataset/dist/dataset-intake.js";
import { validateYoloDataset } from "../services/dataset/dist/yolo-layout.js";

const [url, workDir] = process.argv.slice(2);
const policy = { allowPrivate: false, allowHosts: [], allowCidrs: ["127.0.0.1/32"] };
const dispatcher = guardedAgent(policy, { connect: { timeout: 10_000 } });
const started = performance.now();
const seconds = () => Math.round(performance.now() - started) / 1000;
const stages = {};
let failure = null;
let info = null;

/** Records when each stage ended, in seconds since the start. */
async function timed(stage, work) {
  const result = await work;
  stages[stage] = seconds();
  if (process.env.BENCH_RSS) stages[`${stage}_rss_mib`] = Math.round(process.memoryUsage().rss / 1048576);
  return result;
}

const request = {
  job_id: randomUUID(),
  requested_at: new Date().toISOString(),
  model_config: {
    name: "bench",
    base_model: "yolov8n.pt",
    epochs: 1,
    batch_size: 16,
    image_size: 640,
    learning_rate: 0.01,
  },
  dataset: { url, format: "yolo" },
};
const download = (u, dest, onProgress) =>
  downloadArchive(u, dest, {
    dispatcher,
    policy,
    maxBytes: 10 * 1024 ** 3,
    timeoutMs: 600_000,
    idleTimeoutMs: 30_000,
    attempts: 1,
    onProgress,
  });

await intakeDataset(
  request,
  { attempt: 1, working: () => {} },
  {
    workDir,
    download: (u, dest, onProgress) => timed("downloaded", download(u, dest, onProgress)),
    inspect: (zip) => timed("inspected", ArchiveTree.inspect(zip)),
    validate: (tree, options) => timed("validated", validateYoloDataset(tree, options)),
    lenient: false,
    store: {
      findValidated: async () => null,
      storeValidated: async (_zip, sha256) => `sha256/${sha256}.zip`,
    },
    publishJobEvent: async (event) => {
      if (event.type === "failed") failure = event.error;
    },
    publishDatasetReady: async (ready) => {
      // the dataset is validated and would now be handed on: the clock stops before clean-up
      stages.ready = seconds();
      info = ready.dataset_info;
    },
    isCancelled: async () => false,
    log: createLogger("bench", "silent"),
  },
);
await dispatcher.close();
const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"))?.[1];
console.log(
  JSON.stringify({
    seconds: stages.ready ?? seconds(),
    failure,
    images: info?.total_images ?? null,
    stages,
    peak_rss_kib: Number(hwm ?? process.resourceUsage().maxRSS),
  }),
);
