import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { DATASET_CACHE_DIR, sweepWorkDir } from "./work-dir.js";

describe("agent work dir sweep at start-up", () => {
  let workDir = "";
  before(async () => {
    workDir = await mkdtemp(join(tmpdir(), "agent-work-"));
  });
  after(async () => {
    await rm(workDir, { recursive: true, force: true });
  });

  it("removes finished jobs' folders and stale downloads, keeps queued jobs, the cache and what it does not know", async () => {
    const finished = randomUUID();
    const running = randomUUID();
    for (const job of [finished, running]) {
      await mkdir(join(workDir, job, "run", "weights"), { recursive: true });
      await writeFile(join(workDir, job, "logs.txt"), "epoch 1/3\n");
    }
    await mkdir(join(workDir, "operator-notes"));
    const cache = join(workDir, DATASET_CACHE_DIR);
    await mkdir(cache);
    const digest = "ab".repeat(32);
    await writeFile(join(cache, `${digest}.zip`), "zip");
    const stale = `.${digest}.${randomUUID()}.part`;
    const live = `.${digest}.${randomUUID()}.part`;
    await writeFile(join(cache, stale), "half");
    await writeFile(join(cache, live), "half");
    const hourAgo = new Date(Date.now() - 60 * 60 * 1000);
    await utimes(join(cache, stale), hourAgo, hourAgo);

    const swept = await sweepWorkDir(workDir, {
      isQueued: async (jobId) => jobId === running,
      staleBefore: Date.now() - 10 * 60 * 1000,
    });
    assert.deepEqual(swept, { jobs: [finished], scratch: [stale] });
    assert.deepEqual((await readdir(workDir)).sort(), [DATASET_CACHE_DIR, "operator-notes", running].sort());
    assert.deepEqual((await readdir(cache)).sort(), [live, `${digest}.zip`].sort(), "cached archives stay");
  });

  it("finds nothing to do in a work dir that does not exist yet", async () => {
    const swept = await sweepWorkDir(join(workDir, "missing"), {
      isQueued: async () => false,
      staleBefore: Date.now(),
    });
    assert.deepEqual(swept, { jobs: [], scratch: [] });
  });
});
