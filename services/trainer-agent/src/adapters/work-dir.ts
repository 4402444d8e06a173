import { readdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { JobId } from "@trainyard/contracts";

/** The folder of `AGENT_WORK_DIR` that caches dataset archives by digest (evicted by its own rule). */
export const DATASET_CACHE_DIR = "dataset-cache";
/** An archive download nothing wrote to for this long is a leftover (a live one writes every moment). */
export const SCRATCH_STALE_MS = 10 * 60 * 1000;

export interface WorkDirSweep {
  /** Job folders removed: jobs no longer in the queue. */
  jobs: string[];
  /** Unfinished archive downloads removed. */
  scratch: string[];
}

/**
 * The agent's start-up sweep of its work dir. A job folder (named by its job id) goes once the
 * job has left the scheduler's queue, i.e. finished: its model, plots, log and checkpoint are in
 * the artifacts store, and a job run again starts from a fresh folder anyway. A folder of a job
 * still queued stays, so agents sharing a work dir never lose each other's running jobs. An
 * unfinished archive download (`.<digest>.<uuid>.part`) goes once nothing has written to it
 * since `staleBefore` (epoch ms).
 */
export async function sweepWorkDir(
  workDir: string,
  opts: { isQueued(jobId: string): Promise<boolean>; staleBefore: number },
): Promise<WorkDirSweep> {
  const swept: WorkDirSweep = { jobs: [], scratch: [] };
  for (const entry of await entries(workDir)) {
    if (!entry.isDirectory() || !JobId.safeParse(entry.name).success) continue;
    if (await opts.isQueued(entry.name)) continue;
    await rm(join(workDir, entry.name), { recursive: true, force: true });
    swept.jobs.push(entry.name);
  }
  const cache = join(workDir, DATASET_CACHE_DIR);
  for (const entry of await entries(cache)) {
    if (!entry.isFile() || !entry.name.endsWith(".part")) continue;
    const path = join(cache, entry.name);
    const modified = await stat(path).then(
      (s) => s.mtimeMs,
      () => null, // finished or removed meanwhile
    );
    if (modified === null || modified >= opts.staleBefore) continue;
    await rm(path, { force: true });
    swept.scratch.push(entry.name);
  }
  return swept;
}

async function entries(dir: string) {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
}
