/**
 * What the end-to-end tests share: a run folder whose `stack.log` collects every process's
 * output, the stack itself, synthetic datasets served over HTTP as the app's storage would, the
 * app's callback endpoint with its secret, and the requests and waits the tests build on them.
 * Not a test file: `node --test dist/` runs only `*.test.js`.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { createWriteStream, readdirSync, readFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Callback, TrainRequest } from "@trainyard/contracts";
import { connectNats } from "@trainyard/runtime";
import {
  exampleTrainRequest,
  makeSyntheticDataset,
  serveFiles,
  startCallbackReceiver,
  startStack,
  type CallbackReceiver,
  type FileServer,
  type LineSink,
  type Stack,
  type StackOptions,
  type Supervised,
  type SyntheticDatasetOptions,
} from "@trainyard/stack";

export interface E2eRunOptions {
  /** Names the run folder: `<tmp>/trainyard-<name>-XXXXXX`. */
  name: string;
  /** The stack's settings besides its folder and its log sink. */
  stack?: Omit<StackOptions, "runDir" | "sink">;
  /** Sees every line the stack's processes write, after it went to `stack.log`. */
  watch?: LineSink;
  /** Datasets to generate in the run folder, by file name; requests train on the first unless told otherwise. */
  datasets: Record<string, Omit<SyntheticDatasetOptions, "out">>;
}

/** How one request differs from a quick training on the run's first dataset in batches of four. */
export interface JobOptions {
  datasetUrl?: string;
  batchSize?: number;
  name?: string;
}

export interface E2eRun {
  /** The run folder: `stack.log`, the datasets, the stack's folder. */
  dir: string;
  /** The stack's working folder (NATS and FerretDB data, the agents' work dirs). */
  stackDir: string;
  /** Writes a process's line to `stack.log` (and shows it to `watch`), for processes started besides the stack. */
  sink: LineSink;
  stack: Stack;
  /** Serves the run folder, the datasets among it. */
  files: FileServer;
  /** The app's webhook endpoint, verifying with `secret`. */
  receiver: CallbackReceiver;
  secret: string;
  /** A new job of `epochs` 64 px epochs whose callbacks go to `receiver`. */
  job(epochs: number, opts?: JobOptions): TrainRequest;
  /** POST /api/v1/train, answered 202. */
  submit(request: TrainRequest): Promise<void>;
  /** The callbacks of one job received so far, in arrival order. */
  callbacksOf(jobId: string): Callback[];
  /** The epochs a job's training-phase progress callbacks reported, in arrival order. */
  epochsOf(jobId: string): Array<number | null>;
  /** A GET of a dashboard path (`/api/overview`, `/api/jobs/{id}`), its JSON body as `T`. */
  dashboard<T>(path: string): Promise<T>;
  /** The latest process of the stack running agent `agentId` (`local-1` is named `trainer-agent`). */
  agentProcess(agentId: string): Supervised;
  /** A NATS connection as the stack's `admin` user, for a test that acts or looks behind the services' backs. */
  adminNats(name: string): ReturnType<typeof connectNats>;
  /** Closes the receiver and the file server, then stops the stack. */
  close(): Promise<void>;
}

/**
 * Starts a run: its folder and log, the stack, the datasets and their file server, the callback
 * receiver. Whatever started is stopped again when a later step fails.
 */
export async function startE2eRun(opts: E2eRunOptions): Promise<E2eRun> {
  const dir = await mkdtemp(join(tmpdir(), `trainyard-${opts.name}-`));
  const logPath = join(dir, "stack.log");
  const log = createWriteStream(logPath);
  const sink: LineSink = (name, line) => {
    log.write(`${name} | ${line}\n`);
    opts.watch?.(name, line);
  };
  const stackDir = join(dir, "stack");
  const started: Array<{ close(): Promise<void> }> = [];
  const close = async () => {
    for (const piece of started.splice(0).reverse()) await piece.close();
  };
  try {
    const stack = await startStack({ ...opts.stack, runDir: stackDir, sink });
    started.push({ close: () => stack.stop() });
    const datasets = Object.entries(opts.datasets);
    await Promise.all(datasets.map(([file, dataset]) => makeSyntheticDataset({ ...dataset, out: join(dir, file) })));
    const files = await serveFiles(dir);
    started.push(files);
    const secret = `sk_test_${randomBytes(12).toString("hex")}`;
    const receiver = await startCallbackReceiver(secret);
    started.push(receiver);
    console.log(`stack logs: ${logPath}`);

    const firstDataset = datasets[0]?.[0] ?? "";
    const callbacksOf = (jobId: string) => receiver.received.filter((c) => c.body.job_id === jobId).map((c) => c.body);
    return {
      dir,
      stackDir,
      sink,
      stack,
      files,
      receiver,
      secret,
      job: (epochs, { datasetUrl = files.urlOf(firstDataset), batchSize = 4, name } = {}) =>
        exampleTrainRequest({
          datasetUrl,
          callbackUrl: receiver.url,
          callbackSecret: secret,
          epochs,
          imageSize: 64,
          batchSize,
          name,
        }),
      async submit(request) {
        const res = await stack.api("/api/v1/train", { method: "POST", body: JSON.stringify(request) });
        assert.equal(res.status, 202, `POST /train: ${await res.text()}`);
      },
      callbacksOf,
      epochsOf: (jobId) =>
        callbacksOf(jobId).flatMap((b) =>
          b.type === "training_progress" && b.progress.phase === "training" ? [b.progress.current_epoch] : [],
        ),
      dashboard: async <T>(path: string) => (await (await stack.dashboardApi(path)).json()) as T,
      agentProcess(agentId) {
        const name = agentId === "local-1" ? "trainer-agent" : `agent-${agentId}`;
        const found = stack.processes.filter((p) => p.name === name).at(-1);
        assert.ok(found, `a process runs agent ${agentId}`);
        return found;
      },
      adminNats(name) {
        const seed = stack.nats.credentials?.seedFiles.admin;
        assert.ok(seed, "the stack secures its NATS and has an admin credential");
        return connectNats(stack.natsUrl, name, { user: "admin", nkeySeedFile: seed });
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/** Polls a read model (a job's view, the dashboard's agents list) until `ok` holds. */
export async function until<T>(
  read: () => Promise<T>,
  ok: (value: T) => boolean,
  what: string,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}; last seen ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The pids of the processes whose command line (arguments joined by NUL) satisfies `matches`. */
export function processesWhose(matches: (cmdline: string) => boolean): string[] {
  return readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        return matches(readFileSync(`/proc/${pid}/cmdline`, "utf8"));
      } catch {
        return false; // exited while we looked
      }
    });
}
