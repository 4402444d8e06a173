/**
 * The world a chaos run acts on: the real stack (several agents and schedulers, one NATS server
 * or a 3-node cluster), the app's storage serving valid and broken datasets, the app's webhook
 * endpoint, and small filesystems under the agents' and the dataset service's work folders that
 * a fault can fill. Everything is stopped and unmounted again by `close()`.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream, mkdirSync, writeFileSync } from "node:fs";
import { cp, mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type { TrainRequest } from "@trainyard/contracts";
import {
  buildZip,
  exampleTrainRequest,
  makeSyntheticDataset,
  serveFiles,
  startCallbackReceiver,
  startStack,
  type CallbackReceiver,
  type FileServer,
  type LineSink,
  type Stack,
  type StackAgent,
  type Supervised,
} from "@trainyard/stack";
import { LogBook } from "./log-book.js";
import { agentIds, type InvalidDataset, type PlannedJob } from "./plan.js";
import { Prng } from "./prng.js";

const run = promisify(execFile);

/** The dataset service gives up on a silent connection after this; a stalled transfer outlasts it. */
export const DATASET_IDLE_TIMEOUT_MS = 3_000;

/**
 * The stack's settings under chaos: a retry schedule compressed to 30 s that outlasts any
 * receiver fault window (3–10 s), a short callback timeout for the hanging receiver, no rate
 * limit, one CPU thread per trainer on a small machine.
 */
export const CHAOS_ENV: Record<string, string> = {
  CALLBACK_RETRY_SCHEDULE: "1s,2s,4s,8s,15s",
  CALLBACK_TIMEOUT_MS: "3000",
  RATE_LIMIT_PER_MINUTE: "0",
  RATE_LIMIT_PER_TOKEN_PER_MINUTE: "0",
  DATASET_IDLE_TIMEOUT_MS: String(DATASET_IDLE_TIMEOUT_MS),
  AGENT_DEVICES: "cpu",
  OMP_NUM_THREADS: "1",
  MKL_NUM_THREADS: "1",
  SCHEDULER_MAX_ATTEMPTS: String(3),
  AGENT_MAX_RUN_ATTEMPTS: String(3),
};

/** The attempt limits the stack runs with, for telling a job its faults exhausted from a defect. */
export const ATTEMPT_LIMITS = { schedulerMaxAttempts: 3, agentMaxRunAttempts: 3 };

/** Sizes of the small filesystems: room for every job folder of a long run, little enough to fill. */
const AGENT_DISK_MB = 3072;
const DATASET_DISK_MB = 512;

export interface WorldOptions {
  seed: number;
  agents: number;
  schedulers: number;
  cluster: boolean;
  /** Prints a line of progress (the CLI's console; the test's diagnostics). */
  say(line: string): void;
}

/** How the work folders were made fillable: a tmpfs, a loop-mounted ext4 image, or not at all. */
export interface SmallDisks {
  method: "tmpfs" | "loop" | "none";
  note: string;
  /** Fault target (`agent:local-1`, `dataset`) → its mounted folder. */
  dirs: Map<string, string>;
}

export interface ChaosWorld {
  dir: string;
  stackDir: string;
  logPath: string;
  stack: Stack;
  files: FileServer;
  receiver: CallbackReceiver;
  disks: SmallDisks;
  logs: LogBook;
  /** The request a planned job is submitted with. */
  request(job: PlannedJob): TrainRequest;
  /** An agent of the stack, with its current process (null while it is being restarted). */
  agent(agentId: string): StackAgent & { process: Supervised | null; pid: number | undefined };
  close(): Promise<void>;
}

/** Worlds not closed yet, so an interrupted CLI can still stop their processes and unmount. */
const openWorlds = new Set<ChaosWorld>();

/** Closes every world still open (on SIGINT). */
export async function closeOpenWorlds(): Promise<void> {
  for (const world of [...openWorlds]) await world.close();
}

export async function startWorld(opts: WorldOptions): Promise<ChaosWorld> {
  const dir = await mkdtemp(join(tmpdir(), `trainyard-chaos-${opts.seed}-`));
  const logPath = join(dir, "stack.log");
  const log = createWriteStream(logPath);
  const stackDir = join(dir, "stack");
  const agentList = agentIds(opts.agents);
  // the folders the stack will use, mounted before any service starts writing to them
  const diskTargets = new Map<string, { dir: string; mb: number }>([
    ...agentList.map((id) => [`agent:${id}`, { dir: join(stackDir, `agent-${id}`), mb: AGENT_DISK_MB }] as const),
    ["dataset", { dir: join(stackDir, "dataset"), mb: DATASET_DISK_MB }],
  ]);
  const cleanups: Array<() => Promise<void>> = [];
  let world: ChaosWorld | null = null;
  const close = async () => {
    if (world) openWorlds.delete(world);
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
    if (!log.closed) await new Promise<void>((resolve) => log.end(resolve));
  };
  try {
    const disks = await mountSmallDisks(dir, diskTargets);
    cleanups.push(() => unmountAll(disks));
    // the small filesystems vanish with their mounts: keep the jobs' logs and run files for the report
    cleanups.push(() => keepWorkFiles(disks, join(dir, "work-files")));
    let logs: LogBook | null = null;
    const sink: LineSink = (name, line) => {
      log.write(`${name} | ${line}\n`);
      logs?.see(name, line);
    };
    opts.say(`chaos run folder: ${dir} (stack log: ${logPath}; work folders: ${disks.note})`);
    const stack = await startStack({
      runDir: stackDir,
      sink,
      agents: opts.agents,
      schedulers: opts.schedulers,
      cluster: opts.cluster,
      env: CHAOS_ENV,
    });
    cleanups.push(() => stack.stop());
    // a paused agent must not keep the stack from stopping
    cleanups.push(async () => {
      for (const p of stack.processes) {
        try {
          if (p.child.pid) process.kill(p.child.pid, "SIGCONT");
        } catch {
          // already gone
        }
      }
    });
    logs = new LogBook(stack.agents);

    const datasets = join(dir, "datasets");
    mkdirSync(datasets, { recursive: true });
    await Promise.all([
      makeSyntheticDataset({ out: join(datasets, "shapes-a.zip"), train: 8, val: 4, size: 64, seed: opts.seed }),
      makeSyntheticDataset({ out: join(datasets, "shapes-b.zip"), train: 12, val: 4, size: 64, seed: opts.seed + 1 }),
    ]);
    writeBrokenDatasets(datasets, opts.seed);
    const files = await serveFiles(datasets);
    cleanups.push(() => files.close());
    const secret = `sk_chaos_${randomBytes(12).toString("hex")}`;
    const receiver = await startCallbackReceiver(secret);
    cleanups.push(() => receiver.close());

    world = {
      dir,
      stackDir,
      logPath,
      stack,
      files,
      receiver,
      disks,
      logs,
      request(job) {
        const file =
          job.dataset === "valid" ? (job.index % 2 === 0 ? "shapes-a.zip" : "shapes-b.zip") : brokenFile(job.dataset);
        return {
          ...exampleTrainRequest({
            datasetUrl: files.urlOf(file, { job: job.jobId }),
            callbackUrl: receiver.url,
            callbackSecret: secret,
            epochs: job.epochs,
            imageSize: 64,
            batchSize: 4,
            name: `chaos-${job.index}-${job.kind}`,
          }),
          job_id: job.jobId,
          resources: { device: "cpu", workers: 0 },
        };
      },
      agent(agentId) {
        const agent = stack.agents.find((a) => a.agentId === agentId);
        if (!agent) throw new Error(`no agent ${agentId} in the stack`);
        const proc = stack.processes.filter((p) => p.name === agent.name).at(-1) ?? null;
        return { ...agent, process: proc, pid: proc?.child.pid };
      },
      close,
    };
    openWorlds.add(world);
    return world;
  } catch (err) {
    await close();
    throw err;
  }
}

function brokenFile(kind: InvalidDataset): string {
  return `broken-${kind}.zip`;
}

/** The broken archives of the workload; `missing` is deliberately not written (the storage answers 404). */
function writeBrokenDatasets(dir: string, seed: number): void {
  const rng = new Prng(seed ^ 0x5eed);
  const noise = Buffer.from(Array.from({ length: 4096 }, () => rng.int(0, 255)));
  writeFileSync(join(dir, brokenFile("not-a-zip")), noise);
  const dataYaml = "path: .\ntrain: images/train\nval: images/val\nnames:\n  0: square\n";
  writeFileSync(
    join(dir, brokenFile("path-traversal")),
    buildZip([
      { name: "data.yaml", data: dataYaml },
      { name: "images/train/a.jpg", data: noise.subarray(0, 512) },
      { name: "../escape.txt", data: "outside the extraction folder" },
    ]),
  );
  writeFileSync(
    join(dir, brokenFile("no-labels")),
    buildZip([
      { name: "data.yaml", data: dataYaml },
      { name: "images/train/a.jpg", data: noise.subarray(0, 512) },
      { name: "images/val/b.jpg", data: noise.subarray(512, 1024) },
    ]),
  );
}

/**
 * Mounts a small filesystem on each folder: a tmpfs (needs root), else an ext4 image on a loop
 * device (root too); without either the folders stay on the host's disk and disk-full faults
 * are skipped (filling the host's own disk is no fault to inject).
 */
async function mountSmallDisks(dir: string, targets: Map<string, { dir: string; mb: number }>): Promise<SmallDisks> {
  const dirs = new Map<string, string>();
  for (const t of targets.values()) mkdirSync(t.dir, { recursive: true });
  try {
    for (const [target, t] of targets) {
      await run("mount", ["-t", "tmpfs", "-o", `size=${t.mb}m,mode=0755`, "tmpfs", t.dir]);
      dirs.set(target, t.dir);
    }
    return { method: "tmpfs", note: `tmpfs (agents ${AGENT_DISK_MB} MiB, dataset ${DATASET_DISK_MB} MiB)`, dirs };
  } catch (tmpfsErr) {
    await unmountAll({ method: "tmpfs", note: "", dirs });
    dirs.clear();
    try {
      for (const [target, t] of targets) {
        const image = join(dir, `${target.replace(/\W/g, "-")}.img`);
        await run("truncate", ["-s", `${t.mb}M`, image]);
        await run("mkfs.ext4", ["-q", "-F", image]);
        await run("mount", ["-o", "loop", image, t.dir]);
        dirs.set(target, t.dir);
      }
      return { method: "loop", note: "ext4 images on loop devices (tmpfs refused)", dirs };
    } catch (loopErr) {
      await unmountAll({ method: "loop", note: "", dirs });
      const why = `${String((tmpfsErr as Error).message).split("\n")[0]}; ${String((loopErr as Error).message).split("\n")[0]}`;
      return { method: "none", note: `no small filesystem (${why}): disk-full faults skipped`, dirs: new Map() };
    }
  }
}

/** Copies the work folders without models, archives and datasets into `dest`. */
async function keepWorkFiles(disks: SmallDisks, dest: string): Promise<void> {
  const skipped = /(\.pt|\.zip|\.part|\.chaos-filler|\/dataset|\/dataset-cache|\/lost\+found)$/;
  for (const [target, folder] of disks.dirs) {
    await cp(folder, join(dest, target.replace(/\W/g, "-")), {
      recursive: true,
      filter: (source) => !skipped.test(source),
    });
  }
}

async function unmountAll(disks: SmallDisks): Promise<void> {
  for (const folder of disks.dirs.values()) {
    await run("umount", [folder]).catch(() => run("umount", ["-l", folder]).catch(() => undefined));
  }
}
