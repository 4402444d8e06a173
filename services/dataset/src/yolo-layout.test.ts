import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { DatasetError } from "./dataset-error.js";
import { sampleDataset, writeDataset, type DatasetFiles } from "./testing/yolo-fixture.js";
import { validateYoloDataset } from "./yolo-layout.js";

const scratch = await mkdtemp(join(tmpdir(), "yolo-layout-"));
after(() => rm(scratch, { recursive: true, force: true }));

let count = 0;
async function datasetDir(files: DatasetFiles, emptyFolders: string[] = []): Promise<string> {
  const dir = join(scratch, `case-${++count}`);
  await writeDataset(dir, files);
  for (const folder of emptyFolders) await mkdir(join(dir, folder), { recursive: true });
  return dir;
}

function without(files: DatasetFiles, ...prefixes: string[]): DatasetFiles {
  return Object.fromEntries(Object.entries(files).filter(([path]) => !prefixes.some((p) => path.startsWith(p))));
}

/** Asserts that validation fails with DATASET_INVALID and a message matching `message`. */
async function assertInvalid(dir: string, message: RegExp, expected?: Record<string, boolean>): Promise<void> {
  await assert.rejects(validateYoloDataset(dir, expected), (err: unknown) => {
    assert.ok(err instanceof DatasetError, `expected a DatasetError, got ${String(err)}`);
    assert.equal(err.code, "DATASET_INVALID");
    assert.match(err.message, message);
    return true;
  });
}

describe("validateYoloDataset", () => {
  it("counts images per split and label instances per class of a valid dataset", async () => {
    const dir = await datasetDir(sampleDataset());
    const { root, info } = await validateYoloDataset(dir);
    assert.equal(root, dir);
    assert.deepEqual(info, {
      total_images: 3,
      train_images: 2,
      val_images: 1,
      classes: ["poste", "cabo"],
      class_distribution: { poste: 3, cabo: 1 },
    });
  });

  it("finds the dataset inside a single top-level folder, ignoring macOS metadata", async () => {
    const files = Object.fromEntries(
      Object.entries(sampleDataset()).map(([path, data]) => [`my-dataset/${path}`, data]),
    );
    const dir = await datasetDir({ ...files, "__MACOSX/my-dataset/._data.yaml": "junk", ".DS_Store": "junk" });
    const { root, info } = await validateYoloDataset(dir);
    assert.equal(root, join(dir, "my-dataset"));
    assert.equal(info.total_images, 3);
  });

  it("refuses a dataset without data.yaml with the PRD's message", async () => {
    const dir = await datasetDir(without(sampleDataset(), "data.yaml"));
    await assertInvalid(dir, /^Missing data\.yaml file in dataset$/);
  });

  it("names the label file and line whose class is out of range", async () => {
    const files = { ...sampleDataset(), "labels/train/b.txt": "0 0.5 0.5 1 1\n2 0.1 0.1 0.1 0.1\n" };
    const dir = await datasetDir(files);
    await assertInvalid(dir, /labels\/train\/b\.txt line 2: class 2 is out of range \(data\.yaml lists 2 classes\)/);
  });

  it("refuses coordinates outside [0, 1]", async () => {
    const dir = await datasetDir({ ...sampleDataset(), "labels/val/c.txt": "1 0.4 1.6 0.3 0.3\n" });
    await assertInvalid(dir, /labels\/val\/c\.txt line 1: "1\.6" is not a normalized coordinate/);
  });

  it("refuses a dataset without a val split", async () => {
    const dir = await datasetDir(without(sampleDataset(), "images/val", "labels/val"));
    await assertInvalid(dir, /^Missing images\/val folder in dataset$/);
  });

  it("refuses a split without images", async () => {
    const dir = await datasetDir(without(sampleDataset(), "images/val/", "labels/val/"), ["images/val", "labels/val"]);
    await assertInvalid(dir, /^No images in images\/val/);
  });

  it("reads names given as an {index: name} mapping", async () => {
    const yaml = "train: images/train\nval: images/val\nnames:\n  0: poste\n  1: cabo\n";
    const dir = await datasetDir({ ...sampleDataset(), "data.yaml": yaml });
    const { info } = await validateYoloDataset(dir);
    assert.deepEqual(info.classes, ["poste", "cabo"]);
    assert.deepEqual(info.class_distribution, { poste: 3, cabo: 1 });
  });

  it("refuses an nc that does not match the names", async () => {
    const dir = await datasetDir({ ...sampleDataset(), "data.yaml": "nc: 3\nnames: [poste, cabo]\n" });
    await assertInvalid(dir, /nc: 3 but lists 2 class names/);
  });

  it("honours expected_structure: true entries must exist, false ones need not", async () => {
    const dir = await datasetDir(sampleDataset());
    await validateYoloDataset(dir, { "data.yaml": true, "images/test": false });
    await assertInvalid(dir, /^Missing images\/test in dataset/, { "images/test": true });
    await assertInvalid(dir, /is not a path inside the dataset/, { "../../etc/passwd": true });
  });
});
