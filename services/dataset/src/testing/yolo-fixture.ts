import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { buildZip } from "@trainyard/stack";

/** A valid 1×1 PNG: test images must be real image files, however small. */
export const PNG_1X1 = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
  "base64",
);

/** Relative path → content. */
export type DatasetFiles = Record<string, Buffer | string>;

/**
 * A tiny valid dataset: classes poste, cabo; 2 train images, 1 val image;
 * instances poste 3, cabo 1 (over train and val).
 */
export function sampleDataset(): DatasetFiles {
  return {
    "data.yaml": "path: .\ntrain: images/train\nval: images/val\nnc: 2\nnames: [poste, cabo]\n",
    "images/train/a.png": PNG_1X1,
    "images/train/b.jpg": PNG_1X1,
    "images/val/c.png": PNG_1X1,
    "labels/train/a.txt": "0 0.5 0.5 0.2 0.2\n1 0.25 0.25 0.1 0.1\n",
    "labels/train/b.txt": "0 0.5 0.5 1 1\n",
    "labels/val/c.txt": "0 0.4 0.6 0.3 0.3\n",
  };
}

/** Writes `files` under `dir`, creating folders as needed. */
export async function writeDataset(dir: string, files: DatasetFiles): Promise<void> {
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), content);
  }
}

/** The dataset as a zip archive, optionally inside one top-level folder as "zip this folder" makes it. */
export function datasetZip(files: DatasetFiles, folder?: string): Buffer {
  return buildZip(Object.entries(files).map(([name, data]) => ({ name: folder ? `${folder}/${name}` : name, data })));
}
