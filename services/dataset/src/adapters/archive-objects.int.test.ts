/**
 * Retention of dataset archives against a real nats-server: the sweep deletes an archive no
 * queued or running job needs and keeps the others, and its compare-and-set delete never removes
 * an archive a job took into use in between.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { NatsConnection } from "@nats-io/transport-node";
import { Bucket } from "@trainyard/contracts";
import { connectNats, createLogger, openObjectStore, type ObjectStore } from "@trainyard/runtime";
import { startNats, type Supervised } from "@trainyard/stack";
import { SAMPLE_INFO } from "../testing/yolo-fixture.js";
import { sweepArchives } from "../archive-retention.js";
import { archiveObjects, USED_AT_KEY, type ArchiveObjects } from "./archive-objects.js";
import { datasetObjectName, objectDatasetStore, VALIDATION_VERSION, type DatasetStore } from "./dataset-store.js";

const log = createLogger("archive-retention-test", "silent");
let tmp = "";
let nats: { url: string; process: Supervised };
let nc: NatsConnection;
let bucket: ObjectStore;
let archives: ArchiveObjects;
let store: DatasetStore;

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), "archive-retention-"));
  nats = await startNats(join(tmp, "nats"), () => {});
  nc = await connectNats(nats.url, "archive-retention-test");
  bucket = await openObjectStore(nc, Bucket.datasets);
  archives = await archiveObjects(nc, Bucket.datasets, { markerTtlMs: 60_000 });
  store = objectDatasetStore(bucket, archives);
});

after(async () => {
  await nc?.close();
  await nats?.process.stop();
  await rm(tmp, { recursive: true, force: true });
});

const record = {
  version: VALIDATION_VERSION,
  root: "",
  splits: { train: ["images/train"], val: ["images/val"] },
  info: SAMPLE_INFO,
  warnings: [],
};

/** Stores a random archive as the dataset service does; returns its object name. */
async function stored(): Promise<{ name: string; file: string; sha256: string }> {
  const bytes = randomBytes(200_000);
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  const file = join(tmp, `${sha256}.zip`);
  await writeFile(file, bytes);
  return { name: await store.storeValidated(file, sha256, record), file, sha256 };
}

const present = async (name: string) => {
  const info = await bucket.info(name);
  return info !== null && !info.deleted;
};

describe("dataset archive retention (real NATS object store)", () => {
  it("deletes the archive no job needs, keeps a queued job's and one used within the grace", async () => {
    const finished = await stored();
    const running = await stored();
    const sweep = (graceMs: number) =>
      sweepArchives({
        archives,
        schedulerCaughtUp: async () => true,
        archivesInQueue: async () => new Set([running.name]),
        graceMs,
        now: () => Date.now(),
        log,
      });
    const justUsed = await stored();
    assert.deepEqual(await sweep(60_000), [], "every archive was used within the grace");

    await new Promise((r) => setTimeout(r, 20));
    const deleted = await sweep(10);
    assert.deepEqual(deleted.sort(), [finished.name, justUsed.name].sort(), "the archives no queue entry names");
    assert.equal(await present(finished.name), false, "the finished job's archive is gone");
    assert.equal(await bucket.getBlob(finished.name), null, "its data is gone too");
    assert.equal(await present(running.name), true, "the running job's archive is kept");
    assert.equal((await bucket.getBlob(running.name))?.length, 200_000, "and still readable");
  });

  it("deletes nothing while the scheduler has not taken in every ready dataset", async () => {
    const waiting = await stored();
    const deleted = await sweepArchives({
      archives,
      schedulerCaughtUp: async () => false,
      archivesInQueue: async () => new Set(),
      graceMs: 0,
      now: () => Date.now() + 1_000,
      log,
    });
    assert.deepEqual(deleted, []);
    assert.equal(await present(waiting.name), true);
  });

  it("a delete loses to a reuse in between, and a reuse after a delete stores the archive again", async () => {
    const archive = await stored();
    const listed = (await archives.list()).find((meta) => meta.name === archive.name);
    assert.ok(listed, "the archive is listed");
    // another job takes it into use after the sweep listed it
    await store.storeValidated(archive.file, archive.sha256, record);
    assert.equal(await archives.deleteIfUnchanged(listed), false, "the delete sees the newer revision and gives up");
    assert.equal(await present(archive.name), true);

    const current = (await archives.list()).find((meta) => meta.name === archive.name);
    assert.ok(current && (await archives.deleteIfUnchanged(current)), "an unchanged archive is deleted");
    assert.equal(await archives.markUsed(archive.name, new Date()), false, "a deleted archive is not marked used");
    assert.equal(await store.storeValidated(archive.file, archive.sha256, record), datasetObjectName(archive.sha256));
    assert.equal(await present(archive.name), true, "a job reusing a deleted archive stores it again");
    assert.deepEqual(await store.findValidated(archive.sha256), record, "with its validation record");
    const info = await bucket.info(archive.name);
    assert.ok(Date.parse(info?.metadata?.[USED_AT_KEY] ?? "") > 0, "and the time it was taken into use");
  });
});
