import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { crc32, deflateSync } from "node:zlib";
import { rawZip } from "./zip-writer.js";

/** A real PNG of `width`×`height` pixels (a colour gradient); Ultralytics needs at least 10×10. */
export function png(width = 16, height = 16): Buffer {
  const rows = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    const row = y * (width * 3 + 1);
    for (let x = 0; x < width; x++) rows.set([(x * 16) & 0xff, (y * 16) & 0xff, 128], row + 1 + x * 3);
  }
  return rgbPng(width, height, rows);
}

/**
 * A PNG whose header says `width` x `height` with one row of pixel data: what a decoder reads
 * first, without the gigabytes a real one that size would inflate to.
 */
export function pngClaiming(width: number, height: number): Buffer {
  return rgbPng(width, height, Buffer.alloc(width * 3 + 1));
}

/** An 8-bit RGB PNG of the given size around `rows` (filter byte and pixels, row after row). */
function rgbPng(width: number, height: number, rows: Buffer): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(rows)),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, "latin1");
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

/** A baseline JPEG's headers (SOI, APP0, SOF0 with the size, EOI): what the header check reads. */
export function jpegHeader(width = 32, height = 24): Buffer {
  const sof = Buffer.from([0xff, 0xc0, 0x00, 0x11, 0x08, 0, 0, 0, 0, 0x03, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
  sof.writeUInt16BE(height, 5);
  sof.writeUInt16BE(width, 7);
  const app0 = Buffer.from([0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0]);
  return Buffer.concat([Buffer.from([0xff, 0xd8]), app0, sof, Buffer.from([0xff, 0xd9])]);
}

/** Relative path → content. */
export type DatasetFiles = Record<string, Buffer | string>;

/**
 * A tiny valid dataset: classes poste, cabo; 2 train images, 1 val image;
 * instances poste 3, cabo 1 (over train and val).
 */
export function sampleDataset(): DatasetFiles {
  return {
    "data.yaml": "path: .\ntrain: images/train\nval: images/val\nnc: 2\nnames: [poste, cabo]\n",
    "images/train/a.png": png(),
    "images/train/b.jpg": jpegHeader(),
    "images/val/c.png": png(20, 12),
    "labels/train/a.txt": "0 0.5 0.5 0.2 0.2\n1 0.25 0.25 0.1 0.1\n",
    "labels/train/b.txt": "0 0.5 0.5 1 1\n",
    "labels/val/c.txt": "0 0.4 0.6 0.3 0.3\n",
  };
}

/** The expected dataset_info of sampleDataset(). */
export const SAMPLE_INFO = {
  total_images: 3,
  train_images: 2,
  val_images: 1,
  classes: ["poste", "cabo"],
  class_distribution: { poste: 3, cabo: 1 },
};

/** Writes `files` under `dir`, creating folders as needed. */
export async function writeDataset(dir: string, files: DatasetFiles): Promise<void> {
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), content);
  }
}

/** The dataset as a deflated zip archive, optionally inside one top-level folder as "zip this folder" makes it. */
export function datasetZip(files: DatasetFiles, folder?: string): Buffer {
  return rawZip(Object.entries(files).map(([name, data]) => ({ name: folder ? `${folder}/${name}` : name, data })));
}
