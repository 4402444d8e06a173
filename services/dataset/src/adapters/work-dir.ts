import { readdir, rm, stat, utimes } from "node:fs/promises";
import { join } from "node:path";

/**
 * Removes what intakes left in the work dir (a killed process's downloads): every entry not
 * modified since `staleBefore` (epoch ms). A running intake touches its folder on every
 * heartbeat (`touchScratch`), so a replica sharing the folder never loses one that is in use.
 * Resolves to the names removed.
 */
export async function sweepWorkDir(workDir: string, staleBefore: number): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(workDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
  const removed: string[] = [];
  for (const name of names) {
    const path = join(workDir, name);
    const modified = await stat(path).then(
      (s) => s.mtimeMs,
      () => null, // removed meanwhile
    );
    if (modified === null || modified >= staleBefore) continue;
    await rm(path, { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}

/** Marks an intake's scratch folder as in use (see `sweepWorkDir`). */
export async function touchScratch(dir: string, at = new Date()): Promise<void> {
  await utimes(dir, at, at);
}
