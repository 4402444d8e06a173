/**
 * What a chaos run reads in the stack's logs: per job, the warnings and errors any process wrote
 * about it (for the report of a violation), and which agent completed it with which model file.
 */
import { createHash } from "node:crypto";
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import type { StackAgent } from "@trainyard/stack";

/** The model a completing run had on its disk when it logged `job completed`. */
export interface Completion {
  /** Process name of the agent that logged it. */
  process: string;
  /** sha256 of the newest best.pt under the job's folder; null when none was found. */
  modelSha256: string | null;
  modelPath: string | null;
}

/** One run of a job: the scheduler placed its `attempt` on an agent. */
export interface Placement {
  agentId: string;
  attempt: number;
  /** Epoch ms of the first log line announcing it. */
  at: number;
}

const NOTABLE_MESSAGES = new Set([
  "resuming from checkpoint",
  "agent lost: job back in the queue",
  "stale assignment dropped",
  "job completed",
  "job cancelled",
]);
const MAX_LINES_PER_JOB = 40;

export class LogBook {
  /** Per job: `process | level | msg | details` of warnings, errors and the notable messages above. */
  readonly lines = new Map<string, string[]>();
  readonly completions = new Map<string, Completion[]>();
  /** Each job's runs as the scheduler placed them, one per attempt, in order. */
  readonly placements = new Map<string, Placement[]>();
  /** Completion snapshots still being hashed. */
  private readonly pending = new Set<Promise<void>>();

  constructor(private readonly agents: readonly StackAgent[]) {}

  /** Takes one line of a process's output. */
  see(process: string, line: string): void {
    if (!line.startsWith("{") || !line.includes('"job_id"')) return;
    let entry: { job_id?: unknown; msg?: unknown; level?: unknown; [key: string]: unknown };
    try {
      entry = JSON.parse(line) as typeof entry;
    } catch {
      return;
    }
    const jobId = typeof entry.job_id === "string" ? entry.job_id : null;
    const msg = typeof entry.msg === "string" ? entry.msg : "";
    const level = typeof entry.level === "number" ? entry.level : 30;
    if (!jobId) return;
    if (level >= 40 || NOTABLE_MESSAGES.has(msg)) {
      const { job_id: _j, msg: _m, level: _l, time: _t, pid: _p, hostname: _h, name: _n, ...rest } = entry;
      const details = JSON.stringify(rest);
      const list = this.lines.get(jobId) ?? [];
      if (list.length < MAX_LINES_PER_JOB)
        list.push(`${process} | ${levelName(level)} | ${msg} | ${details.slice(0, 400)}`);
      this.lines.set(jobId, list);
    }
    if (msg === "job completed") this.snapshot(process, jobId);
    if (msg === "job assigned" && typeof entry.agent_id === "string" && typeof entry.attempt === "number") {
      // a new leader announces held placements again: the first line of each attempt counts
      const runs = this.placements.get(jobId) ?? [];
      if (!runs.some((r) => r.attempt === entry.attempt)) {
        runs.push({
          agentId: entry.agent_id,
          attempt: entry.attempt,
          at: typeof entry.time === "number" ? entry.time : Date.now(),
        });
      }
      this.placements.set(jobId, runs);
    }
  }

  /** Resolves once every completion seen so far has been hashed. */
  async settled(): Promise<void> {
    await Promise.all([...this.pending]);
  }

  private snapshot(process: string, jobId: string): void {
    const agent = this.agents.find((a) => a.name === process);
    const task = (async () => {
      const model = agent ? await newestFile(join(agent.workDir, jobId), "best.pt") : null;
      const modelSha256 = model
        ? createHash("sha256")
            .update(await readFile(model))
            .digest("hex")
        : null;
      const list = this.completions.get(jobId) ?? [];
      list.push({ process, modelSha256, modelPath: model });
      this.completions.set(jobId, list);
    })().catch(() => {
      const list = this.completions.get(jobId) ?? [];
      list.push({ process, modelSha256: null, modelPath: null });
      this.completions.set(jobId, list);
    });
    this.pending.add(task);
    void task.finally(() => this.pending.delete(task));
  }
}

function levelName(level: number): string {
  return level >= 50 ? "error" : level >= 40 ? "warn" : "info";
}

/** The most recently modified file called `name` below `dir`; null when there is none. */
async function newestFile(dir: string, name: string): Promise<string | null> {
  let best: { path: string; mtime: number } | null = null;
  const walk = async (folder: string, depth: number): Promise<void> => {
    if (depth > 6) return;
    for (const entry of await readdir(folder, { withFileTypes: true }).catch(() => [])) {
      const path = join(folder, entry.name);
      if (entry.isDirectory()) await walk(path, depth + 1);
      else if (entry.name === name) {
        const mtime = (await stat(path)).mtimeMs;
        if (!best || mtime > best.mtime) best = { path, mtime };
      }
    }
  };
  await walk(dir, 0);
  return (best as { path: string } | null)?.path ?? null;
}
