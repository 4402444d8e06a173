import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { DatasetReady, JobEvent, JobEventOf } from "@trainyard/contracts";
import { createLogger, type ZipLimits } from "@trainyard/runtime";
import { memoryJobOutcomes } from "@trainyard/stack";
import type { DatasetStore, ValidationRecord } from "../adapters/dataset-store.js";
import { datasetObjectName } from "../adapters/dataset-store.js";
import type { IntakeDeps } from "../dataset-intake.js";
import { ArchiveTree } from "../archive-tree.js";
import { validateYoloDataset } from "../yolo-layout.js";

/** An in-memory DatasetStore that records what was stored. */
export function memoryStore(): DatasetStore & { records: Map<string, ValidationRecord>; puts: number } {
  const records = new Map<string, ValidationRecord>();
  const store = {
    records,
    puts: 0,
    async findValidated(sha256: string) {
      return records.get(sha256) ?? null;
    },
    async storeValidated(_zip: string, sha256: string, record: ValidationRecord) {
      if (!records.has(sha256)) store.puts++;
      records.set(sha256, record);
      return datasetObjectName(sha256);
    },
  };
  return store;
}

export interface Harness {
  deps: IntakeDeps;
  events: Array<{ event: JobEvent; msgId: string }>;
  ready: Array<{ ready: DatasetReady; msgId: string }>;
  store: ReturnType<typeof memoryStore>;
  calls: { inspect: number; validate: number };
  /** The folder the intake may write in; everything else in the sandbox must stay untouched. */
  workDir: string;
  sandbox: string;
}

export interface HarnessOptions {
  limits?: ZipLimits;
  lenient?: boolean;
  store?: ReturnType<typeof memoryStore>;
  overrides?: Partial<IntakeDeps>;
}

/**
 * Real inspection and validation in a fresh sandbox (`<sandbox>/work` is the intake's work
 * folder); the download writes `archive`, the store is in memory and NATS is recorded.
 */
export async function intakeHarness(
  scratch: string,
  archive: Buffer | (() => Promise<Buffer>),
  options: HarnessOptions = {},
): Promise<Harness> {
  await mkdir(scratch, { recursive: true });
  const sandbox = await mkdtemp(join(scratch, "sandbox-"));
  const workDir = join(sandbox, "work");
  const events: Harness["events"] = [];
  const ready: Harness["ready"] = [];
  const calls = { inspect: 0, validate: 0 };
  const store = options.store ?? memoryStore();
  const deps: IntakeDeps = {
    workDir,
    download: async (_url, destFile, onProgress) => {
      const bytes = typeof archive === "function" ? await archive() : archive;
      onProgress(0, bytes.length);
      await writeFile(destFile, bytes);
      onProgress(bytes.length, bytes.length);
      return { bytes: bytes.length, sha256: createHash("sha256").update(bytes).digest("hex") };
    },
    inspect: (zipFile, signal) => {
      calls.inspect++;
      return ArchiveTree.inspect(zipFile, options.limits, signal);
    },
    validate: (tree, opts) => {
      calls.validate++;
      return validateYoloDataset(tree, opts);
    },
    lenient: options.lenient ?? false,
    store,
    publishJobEvent: async (event, msgId) => {
      events.push({ event, msgId });
    },
    publishDatasetReady: async (r, msgId) => {
      ready.push({ ready: r, msgId });
    },
    outcomes: memoryJobOutcomes(),
    isCancelled: async () => false,
    watchCancellation: () => ({ signal: new AbortController().signal, release: () => {} }),
    log: createLogger("dataset-test", "silent"),
    ...options.overrides,
  };
  return { deps, events, ready, store, calls, workDir, sandbox };
}

export const firstDelivery = { attempt: 1, working: () => {} };

/** The job's one failed event's error; fails when there is not exactly one. */
export function failureOf(h: Harness): JobEventOf<"failed">["error"] {
  const failed = h.events.filter((e) => e.event.type === "failed");
  assert.equal(failed.length, 1, `expected exactly one failed event, got ${JSON.stringify(h.events)}`);
  assert.equal(h.ready.length, 0, "a failed job gets no train.dataset.ready");
  const event = failed[0]!.event as JobEventOf<"failed">;
  return event.error;
}

/** Asserts the sandbox holds nothing but an empty work folder: nothing was written anywhere else. */
export async function assertNothingLeft(h: Harness): Promise<void> {
  assert.deepEqual(await readdir(h.sandbox), ["work"], "nothing may be written beside the work folder");
  assert.deepEqual(await readdir(h.workDir), [], "the job's scratch folder is removed");
}
