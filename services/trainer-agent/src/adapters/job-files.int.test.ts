import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { NatsConnection } from "@nats-io/transport-node";
import { connectNats, openObjectStore, type ObjectStore } from "@trainyard/runtime";
import { startNats, type Supervised } from "@trainyard/stack";
import { jobFiles } from "./job-files.js";

/** These cases fail for good, never transiently: one try each. */
const noRetry = { forMs: 0 };
let tmp = "";
let nats: { url: string; process: Supervised };
let nc: NatsConnection;
let datasets: ObjectStore;

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), "job-files-"));
  nats = await startNats(join(tmp, "nats"), () => {});
  nc = await connectNats(nats.url, "job-files-test");
  datasets = await openObjectStore(nc, "datasets-cache-test");
});

after(async () => {
  await nc?.close();
  await nats?.process.stop();
  await rm(tmp, { recursive: true, force: true });
});

async function stored(bytes: Buffer): Promise<{ name: string; sha256: string }> {
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  const name = `sha256/${sha256}.zip`;
  await datasets.putBlob({ name }, bytes);
  return { name, sha256 };
}

describe("jobFiles.datasetArchive: the agent's cache of dataset archives by digest", () => {
  it("fetches an archive once per host, then serves it from the cache", async () => {
    const bytes = randomBytes(300_000);
    const { name, sha256 } = await stored(bytes);
    const files = jobFiles(datasets, datasets, noRetry);
    const cacheDir = join(tmp, "cache-a");
    const first = await files.datasetArchive(name, sha256, cacheDir);
    assert.equal(first, join(cacheDir, `${sha256}.zip`));
    assert.deepEqual(await readFile(first), bytes);
    await datasets.delete(name);
    const second = await files.datasetArchive(name, sha256, cacheDir);
    assert.equal(second, first, "served from the cache: the store no longer has it");
    assert.deepEqual(await readdir(cacheDir), [`${sha256}.zip`], "no partial files left");
  });

  it("hashes a cached archive again before each use: one changed on disk is fetched again", async () => {
    const bytes = randomBytes(200_000);
    const { name, sha256 } = await stored(bytes);
    const files = jobFiles(datasets, datasets, noRetry);
    const cacheDir = join(tmp, "cache-c");
    const cached = await files.datasetArchive(name, sha256, cacheDir);
    await writeFile(cached, Buffer.from("a planted archive"));
    assert.equal(await files.datasetArchive(name, sha256, cacheDir), cached);
    assert.deepEqual(await readFile(cached), bytes, "the stored archive, not the planted one");
  });

  it("refuses an object whose content does not match its digest, caching nothing", async () => {
    const { name } = await stored(randomBytes(1000));
    const wrong = createHash("sha256").update("something else").digest("hex");
    const cacheDir = join(tmp, "cache-b");
    await assert.rejects(
      jobFiles(datasets, datasets, noRetry).datasetArchive(name, wrong, cacheDir),
      /has digest [0-9a-f]{64}, expected/,
    );
    assert.deepEqual(await readdir(cacheDir), []);
  });

  it("fails clearly when the object is missing", async () => {
    const sha256 = createHash("sha256").update("never stored").digest("hex");
    await assert.rejects(
      jobFiles(datasets, datasets, noRetry).datasetArchive(`sha256/${sha256}.zip`, sha256, join(tmp, "cache-c")),
      /dataset object sha256\/[0-9a-f]{64}\.zip is missing/,
    );
  });
});
