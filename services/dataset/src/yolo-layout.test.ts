import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { DatasetError } from "./dataset-error.js";
import {
  png,
  pngClaiming,
  SAMPLE_INFO,
  sampleDataset,
  writeDataset,
  type DatasetFiles,
} from "./testing/yolo-fixture.js";
import { diskTree } from "./dataset-tree.js";
import { labelPathFor, validateYoloDataset as validateTree, type ValidationOptions } from "./yolo-layout.js";

const validateYoloDataset = (dir: string, options?: ValidationOptions) => validateTree(diskTree(dir), options);

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
async function assertInvalid(dir: string, message: RegExp, options: ValidationOptions = {}): Promise<DatasetError> {
  let error: DatasetError | undefined;
  await assert.rejects(validateYoloDataset(dir, options), (err: unknown) => {
    assert.ok(err instanceof DatasetError, `expected a DatasetError, got ${String(err)}`);
    assert.equal(err.code, "DATASET_INVALID");
    assert.match(err.message, message);
    error = err;
    return true;
  });
  return error!;
}

describe("validateYoloDataset", () => {
  it("counts images per split and label instances per class of a valid dataset", async () => {
    const dir = await datasetDir(sampleDataset());
    const { root, info, splits, warnings } = await validateYoloDataset(dir);
    assert.equal(root, "");
    assert.deepEqual(info, SAMPLE_INFO);
    assert.deepEqual(splits, { train: ["images/train"], val: ["images/val"] });
    assert.deepEqual(warnings, []);
  });

  it("finds the dataset inside a single top-level folder, ignoring macOS metadata", async () => {
    const files = Object.fromEntries(
      Object.entries(sampleDataset()).map(([path, data]) => [`my-dataset/${path}`, data]),
    );
    const dir = await datasetDir({ ...files, "__MACOSX/my-dataset/._data.yaml": "junk", ".DS_Store": "junk" });
    const { root, info } = await validateYoloDataset(dir);
    assert.equal(root, "my-dataset");
    assert.equal(info.total_images, 3);
  });

  it("refuses a dataset without data.yaml with the PRD's message", async () => {
    const dir = await datasetDir(without(sampleDataset(), "data.yaml"));
    await assertInvalid(dir, /^Missing data\.yaml file in dataset$/);
  });

  it("names the label file and line whose class is out of range, and lists every offending file", async () => {
    const files = {
      ...sampleDataset(),
      "labels/train/b.txt": "0 0.5 0.5 1 1\n2 0.1 0.1 0.1 0.1\n",
      "labels/val/c.txt": "0 0.4 0.6 0.3\n",
    };
    const dir = await datasetDir(files);
    const error = await assertInvalid(
      dir,
      /^Invalid label in labels\/train\/b\.txt line 2: class 2 is out of range \(data\.yaml lists 2 classes\) \(2 problems in 2 files in all\)$/,
    );
    assert.match(error.details, /labels\/train\/b\.txt line 2: class 2/);
    assert.match(
      error.details,
      /labels\/val\/c\.txt line 1: expected "class x_center y_center width height", got 4 values/,
    );
  });

  it("lenient mode turns skipped files into warnings and leaves them out of the counts", async () => {
    const files = {
      ...sampleDataset(),
      "labels/train/b.txt": "0 0.5 0.5 1 1\n7 0.1 0.1 0.1 0.1\n",
      "images/train/d.png": Buffer.from("not really a png"),
    };
    const dir = await datasetDir(files);
    const { info, warnings } = await validateYoloDataset(dir, { lenient: true });
    assert.equal(info.train_images, 1, "b.jpg (bad label) and d.png (not an image) are skipped");
    assert.deepEqual(info.class_distribution, { poste: 2, cabo: 1 });
    assert.deepEqual(warnings, [
      "labels/train/b.txt line 2: class 7 is out of range (data.yaml lists 2 classes)",
      "images/train/d.png is not a JPEG, PNG, BMP, WebP or TIFF image (unknown file signature)",
      "2 images will be skipped by the trainer",
    ]);
  });

  it("refuses an image that is not an image, and one smaller than 10x10 pixels", async () => {
    const notImage = await datasetDir({ ...sampleDataset(), "images/train/a.png": "<html>oops</html>" });
    await assertInvalid(notImage, /^Invalid image: images\/train\/a\.png is not a JPEG, PNG/);
    const tiny = await datasetDir({ ...sampleDataset(), "images/val/c.png": png(1, 1) });
    await assertInvalid(tiny, /images\/val\/c\.png is 1x1 pixels; images need at least 10x10/);
  });

  it("refuses a 20000x20000 PNG with DATASET_INVALID naming the file, lenient or not", async () => {
    const huge = await datasetDir({ ...sampleDataset(), "images/train/huge.png": pngClaiming(20_000, 20_000) });
    for (const lenient of [false, true]) {
      const error = await assertInvalid(
        huge,
        /^Invalid image: images\/train\/huge\.png is 20000x20000 pixels, over the limit of 8192 px a side and 50 megapixels/,
        { lenient },
      );
      assert.equal(error.code, "DATASET_INVALID");
    }
    // under each side's bound but over the pixel count
    const wide = await datasetDir({ ...sampleDataset(), "images/val/wide.png": pngClaiming(8000, 7000) });
    await assertInvalid(wide, /wide\.png is 8000x7000 pixels, over the limit/);
    const largest = await datasetDir({ ...sampleDataset(), "images/val/ok.png": pngClaiming(8192, 6000) });
    await validateYoloDataset(largest);
  });

  it("refuses zero-size boxes and non-numeric fields", async () => {
    const dir = await datasetDir({ ...sampleDataset(), "labels/train/a.txt": "0 0.5 0.5 0 0.2\n1 0.5 0.5 0x1 0.2\n" });
    const error = await assertInvalid(dir, /labels\/train\/a\.txt line 1: box width and height must be positive/);
    assert.match(error.details, /line 2: "0x1" is not a normalized coordinate/);
  });

  it("counts an image without a label file as background", async () => {
    const files = { ...sampleDataset(), "images/train/empty.png": png() };
    const { info } = await validateYoloDataset(await datasetDir(files));
    assert.equal(info.train_images, 3);
    assert.deepEqual(info.class_distribution, { poste: 3, cabo: 1 });
  });

  it("refuses a split whose images have no label files at all", async () => {
    const dir = await datasetDir(without(sampleDataset(), "labels/val/"));
    await assertInvalid(dir, /^No label files found for the images in images\/val$/);
  });

  it("refuses coordinates outside [0, 1]", async () => {
    const dir = await datasetDir({ ...sampleDataset(), "labels/val/c.txt": "1 0.4 1.6 0.3 0.3\n" });
    await assertInvalid(dir, /labels\/val\/c\.txt line 1: "1\.6" is not a normalized coordinate/);
  });

  it("refuses a dataset whose val folder is missing", async () => {
    const dir = await datasetDir(without(sampleDataset(), "images/val", "labels/val"));
    await assertInvalid(dir, /^data\.yaml val: images\/val is not a folder in the archive/);
  });

  it("refuses split paths that are absolute, escape the archive or list images in a file", async () => {
    const yaml = (train: string) => `train: ${train}\nval: images/val\nnames: [poste, cabo]\n`;
    const absolute = await datasetDir({ ...sampleDataset(), "data.yaml": yaml("/content/data/images/train") });
    await assertInvalid(
      absolute,
      /train: \/content\/data\/images\/train is an absolute path .*e\.g\. train: images\/train/,
    );
    const escaping = await datasetDir({ ...sampleDataset(), "data.yaml": yaml("../../etc") });
    await assertInvalid(escaping, /train: \.\.\/\.\.\/etc is not a folder in the archive/);
    const list = await datasetDir({
      ...sampleDataset(),
      "data.yaml": yaml("train.txt"),
      "train.txt": "images/train/a.png\n",
    });
    await assertInvalid(list, /train: train\.txt is an image list file/);
  });

  it("infers the split folders when data.yaml has none", async () => {
    const dir = await datasetDir({ ...sampleDataset(), "data.yaml": "names: [poste, cabo]\n" });
    const { splits, info } = await validateYoloDataset(dir);
    assert.deepEqual(splits, { train: ["images/train"], val: ["images/val"] });
    assert.deepEqual(info, SAMPLE_INFO);
  });

  it("names a YAML syntax error's line", async () => {
    const dir = await datasetDir({ ...sampleDataset(), "data.yaml": "names: [a, b\ntrain: x\n" });
    await assertInvalid(dir, /^data\.yaml is not valid YAML \(line \d\)/);
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
    await validateYoloDataset(dir, { expectedStructure: { "data.yaml": true, "images/test": false } });
    await assertInvalid(dir, /^Missing images\/test in dataset/, { expectedStructure: { "images/test": true } });
    await assertInvalid(dir, /is not a path inside the dataset/, { expectedStructure: { "../../etc/passwd": true } });
  });

  it("maps each image to its label file the way Ultralytics does", () => {
    assert.equal(labelPathFor("images/train/a.jpg"), "labels/train/a.txt");
    assert.equal(labelPathFor("train/images/sub/b.v1.PNG"), "train/labels/sub/b.v1.txt");
    assert.equal(labelPathFor("images/x/images/c.jpg"), "images/x/labels/c.txt", "the last images segment");
    assert.equal(labelPathFor("pictures/c.jpg"), null);
  });
});
