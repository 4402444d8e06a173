// Writes the benchmark's dataset archive: a YOLO dataset of small real PNG images (noise, so
// they compress as little as photos do) with one label file each, deflated like a zip tool
// would, streamed to disk so generating 1 GB never holds it in memory.
// Usage: node bench/dataset-corpus.js <out.zip> [images] [image-kib]
import { createWriteStream } from "node:fs";
import { mkdir } from "node:fs/promises";
import { dirname } from "node:path";
import { once } from "node:events";
import { crc32, deflateRawSync, deflateSync } from "node:zlib";
import { randomBytes } from "node:crypto";

const [out, imagesArg = "20000", kibArg = "50"] = process.argv.slice(2);
if (!out) throw new Error("usage: node bench/dataset-corpus.js <out.zip> [images] [image-kib]");
const images = Number(imagesArg);
const side = Math.round(Math.sqrt((Number(kibArg) * 1024) / 3));
const UNIQUE = 256;

function chunk(type, data) {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, "latin1");
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

function noisePng() {
  const rows = Buffer.alloc((side * 3 + 1) * side);
  for (let y = 0; y < side; y++) randomBytes(side * 3).copy(rows, y * (side * 3 + 1) + 1);
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(side, 0);
  ihdr.writeUInt32BE(side, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(rows, { level: 1 })),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

/** Content once, compressed once: most of the archive reuses a few hundred distinct images. */
function prepared(data) {
  return { data: deflateRawSync(data), size: data.length, crc: crc32(data) };
}

const pngs = Array.from({ length: UNIQUE }, () => prepared(noisePng()));
const labels = Array.from({ length: UNIQUE }, (_, i) =>
  prepared(
    Buffer.from(
      Array.from({ length: 1 + (i % 4) }, (_, k) => `${(i + k) % 3} 0.${((i * 7 + k) % 9) + 1} 0.5 0.1${k} 0.2\n`).join(
        "",
      ),
    ),
  ),
);

await mkdir(dirname(out), { recursive: true });
const stream = createWriteStream(out);
const central = [];
let offset = 0;

/**
 * The 26 bytes a local header and its central directory record share, from "version needed" to
 * "extra field length" (APPNOTE 4.3.7, 4.3.12): version 2.0, UTF-8 name, deflated, dated 1980-01-01.
 */
function entryFields(entry, nameLength) {
  const fields = Buffer.alloc(26);
  fields.writeUInt16LE(20, 0);
  fields.writeUInt16LE(0x0800, 2);
  fields.writeUInt16LE(8, 4);
  fields.writeUInt16LE(0x21, 8);
  fields.writeUInt32LE(entry.crc, 10);
  fields.writeUInt32LE(entry.data.length, 14);
  fields.writeUInt32LE(entry.size, 18);
  fields.writeUInt16LE(nameLength, 22);
  return fields;
}

async function add(name, entry) {
  const nameBytes = Buffer.from(name);
  const fields = entryFields(entry, nameBytes.length);
  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  fields.copy(local, 4);
  const record = Buffer.alloc(46);
  record.writeUInt32LE(0x02014b50, 0);
  record.writeUInt16LE((3 << 8) | 20, 4);
  fields.copy(record, 6);
  record.writeUInt32LE((0o100644 << 16) >>> 0, 38);
  record.writeUInt32LE(offset, 42);
  central.push(record, nameBytes);
  offset += local.length + nameBytes.length + entry.data.length;
  if (!stream.write(Buffer.concat([local, nameBytes, entry.data]))) await once(stream, "drain");
}

await add("data.yaml", prepared(Buffer.from("train: images/train\nval: images/val\nnames: [red, green, blue]\n")));
const valFrom = Math.floor(images * 0.8);
for (let i = 0; i < images; i++) {
  const split = i < valFrom ? "train" : "val";
  const stem = `${split}_${String(i).padStart(6, "0")}`;
  await add(`images/${split}/${stem}.png`, pngs[i % UNIQUE]);
  await add(`labels/${split}/${stem}.txt`, labels[i % UNIQUE]);
}
const directory = Buffer.concat(central);
const end = Buffer.alloc(22);
end.writeUInt32LE(0x06054b50, 0);
end.writeUInt16LE(central.length / 2, 8);
end.writeUInt16LE(central.length / 2, 10);
end.writeUInt32LE(directory.length, 12);
end.writeUInt32LE(offset, 16);
stream.end(Buffer.concat([directory, end]));
await once(stream, "finish");
console.log(JSON.stringify({ out, images, entries: central.length / 2, bytes: offset + directory.length + 22 }));
