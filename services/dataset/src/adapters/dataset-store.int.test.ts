import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { NatsConnection } from "@nats-io/transport-node";
import { connectNats, openObjectStore, type ObjectStore } from "@trainyard/runtime";
import { startNats, type Supervised } from "@trainyard/stack";
import { SAMPLE_INFO } from "../testing/yolo-fixture.js";
import { archiveObjects, type ArchiveObjects } from "./archive-objects.js";
import { datasetObjectName, objectDatasetStore, VALIDATION_VERSION, type ValidationRecord } from "./dataset-store.js";

let tmp = "";
let nats: { url: string; process: Supervised };
let nc: NatsConnection;
let bucket: ObjectStore;
let archives: ArchiveObjects;

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), "dataset-store-"));
  nats = await startNats(join(tmp, "nats"), () => {});
  nc = await connectNats(nats.url, "dataset-store-test");
  bucket = await openObjectStore(nc, "datasets-store-test");
  archives = await archiveObjects(nc, "datasets-store-test", { markerTtlMs: 60_000 });
});

after(async () => {
  await nc?.close();
  await nats?.process.stop();
  await rm(tmp, { recursive: true, force: true });
});

const record: ValidationRecord = {
  version: VALIDATION_VERSION,
  root: "export",
  splits: { train: ["train/images"], val: ["valid/images"] },
  info: SAMPLE_INFO,
  warnings: [],
};

async function archive(size = 300_000): Promise<{ file: string; sha256: string }> {
  const bytes = randomBytes(size);
  const file = join(tmp, `${createHash("sha256").update(bytes).digest("hex")}.zip`);
  await writeFile(file, bytes);
  return { file, sha256: createHash("sha256").update(bytes).digest("hex") };
}

describe("objectDatasetStore on a JetStream object store", () => {
  it("stores an archive under its digest with its validation record, and finds the record again", async () => {
    const store = objectDatasetStore(bucket, archives);
    const { file, sha256 } = await archive();
    assert.equal(await store.findValidated(sha256), null, "nothing stored yet");
    assert.equal(await store.storeValidated(file, sha256, record), `sha256/${sha256}.zip`);
    assert.deepEqual(await store.findValidated(sha256), record);
    const stored = await bucket.getBlob(datasetObjectName(sha256));
    assert.equal(createHash("sha256").update(stored!).digest("hex"), sha256);
  });

  it("stores an archive submitted twice at once only once", async () => {
    const store = objectDatasetStore(bucket, archives);
    const { file, sha256 } = await archive(2 * 1024 * 1024);
    const names = await Promise.all([1, 2, 3].map(() => store.storeValidated(file, sha256, record)));
    assert.deepEqual(new Set(names), new Set([datasetObjectName(sha256)]));
    const objects = (await bucket.list()).filter((o) => o.name === datasetObjectName(sha256));
    assert.equal(objects.length, 1);
    assert.deepEqual(await store.findValidated(sha256), record);
  });

  it("ignores a record written by other validation rules, and replaces it on the next store", async () => {
    const store = objectDatasetStore(bucket, archives);
    const { file, sha256 } = await archive();
    await store.storeValidated(file, sha256, { ...record, version: VALIDATION_VERSION - 1 });
    assert.equal(await store.findValidated(sha256), null, "a record from older rules is not trusted");
    const revision = (await bucket.info(datasetObjectName(sha256)))?.revision;
    await store.storeValidated(file, sha256, record);
    assert.deepEqual(await store.findValidated(sha256), record);
    const info = await bucket.info(datasetObjectName(sha256));
    assert.ok(info && revision !== undefined && info.revision > revision, "only the metadata was updated");
    assert.equal(info.size, 300_000);
  });
});
