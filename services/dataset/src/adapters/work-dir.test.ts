import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { sweepWorkDir, touchScratch } from "./work-dir.js";

describe("dataset work dir sweep", () => {
  let workDir = "";
  before(async () => {
    workDir = await mkdtemp(join(tmpdir(), "dataset-work-"));
  });
  after(async () => {
    await rm(workDir, { recursive: true, force: true });
  });

  it("removes a killed intake's leftovers and keeps folders in use", async () => {
    const hourAgo = new Date(Date.now() - 60 * 60 * 1000);
    const leftover = join(workDir, "job-a-x1");
    const inUse = join(workDir, "job-b-x2");
    const touched = join(workDir, "job-c-x3");
    for (const dir of [leftover, inUse, touched]) {
      await mkdir(dir);
      await writeFile(join(dir, "dataset.zip"), "zip");
    }
    await utimes(leftover, hourAgo, hourAgo);
    await utimes(touched, hourAgo, hourAgo);
    // a running intake's heartbeat
    await touchScratch(touched);

    const removed = await sweepWorkDir(workDir, Date.now() - 10 * 60 * 1000);
    assert.deepEqual(removed, ["job-a-x1"]);
    assert.deepEqual((await readdir(workDir)).sort(), ["job-b-x2", "job-c-x3"]);
  });

  it("finds nothing to do in a work dir that does not exist yet", async () => {
    assert.deepEqual(await sweepWorkDir(join(workDir, "missing"), Date.now()), []);
  });
});
