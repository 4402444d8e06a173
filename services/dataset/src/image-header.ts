import { open } from "node:fs/promises";

/** What the header of an image file says: enough to know a decoder will accept it. */
export type ImageHeader = { ok: true; format: string; width: number; height: number } | { ok: false; problem: string };

/** Extensions Ultralytics trains on (its IMG_FORMATS, minus the plug-in formats pfm and heic). */
export const IMAGE_EXTENSIONS = new Set([".bmp", ".dng", ".jpeg", ".jpg", ".mpo", ".png", ".tif", ".tiff", ".webp"]);

/** Bytes read from a file first; an image whose header lies further is read whole. */
const HEAD_BYTES = 64 * 1024;
/** Largest image read whole to find its header. */
const MAX_WHOLE_READ = 256 * 1024 ** 2;
/** JPEG segments read before giving up on finding the frame header. */
const MAX_JPEG_SEGMENTS = 256;

/** The header needs bytes past what was read. */
class NeedMore extends Error {}

/**
 * The header of an image held in memory (a whole file): the format from its magic bytes
 * (whatever the extension says, as Pillow does) and its size from the header a decoder reads
 * first. A file that fails here is one Ultralytics would skip as corrupt.
 */
export function imageHeaderOf(content: Buffer): ImageHeader {
  return imageHeaderFrom(content, true);
}

/** The header of an image from its first bytes (`complete` when they are the whole file). */
export function imageHeaderFrom(head: Buffer, complete: boolean): ImageHeader {
  return parse(head, complete) ?? bad(`has no image header in its first ${head.length} bytes`);
}

/** Reads an image file's header, as imageHeaderOf does for one in memory. */
export async function readImageHeader(path: string): Promise<ImageHeader> {
  const fh = await open(path, "r");
  try {
    const { size } = await fh.stat();
    const head = Buffer.alloc(Math.min(size, HEAD_BYTES));
    await fh.read(head, 0, head.length, 0);
    const header = parse(head, head.length === size);
    if (header !== null) return header;
    if (size > MAX_WHOLE_READ) return bad("has no image header where decoders look for it");
    return imageHeaderOf(await fh.readFile());
  } finally {
    await fh.close();
  }
}

type Bytes = (offset: number, length: number) => Buffer;

/** The header, or null when `complete` is false and it lies past the bytes given. */
function parse(buffer: Buffer, complete: boolean): ImageHeader | null {
  const at: Bytes = (offset, length) => {
    if (offset + length <= buffer.length) return buffer.subarray(offset, offset + length);
    if (!complete) throw new NeedMore();
    return buffer.subarray(Math.min(offset, buffer.length));
  };
  try {
    const head = at(0, 32);
    if (head.length < 8) return bad("is too short to be an image");
    if (head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return jpeg(at);
    if (head.subarray(0, 8).equals(PNG_SIGNATURE)) return png(head);
    if (head.toString("latin1", 0, 2) === "BM") return bmp(head);
    if (head.toString("latin1", 0, 4) === "RIFF" && head.toString("latin1", 8, 12) === "WEBP") return webp(head);
    const order = head.toString("latin1", 0, 4);
    if (order === "II*\0" || order === "MM\0*") return tiff(at, order === "II*\0");
    return bad("is not a JPEG, PNG, BMP, WebP or TIFF image (unknown file signature)");
  } catch (err) {
    if (err instanceof NeedMore) return null;
    throw err;
  }
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function bad(problem: string): ImageHeader {
  return { ok: false, problem };
}

function sized(format: string, width: number, height: number): ImageHeader {
  if (!(width > 0 && height > 0)) return bad(`is a ${format} image with no pixels (${width}x${height})`);
  return { ok: true, format, width, height };
}

function jpeg(at: Bytes): ImageHeader {
  let pos = 2;
  for (let segments = 0; segments < MAX_JPEG_SEGMENTS; segments++) {
    const marker = at(pos, 4);
    if (marker.length < 4) return bad("is a truncated JPEG (no frame header)");
    if (marker[0] !== 0xff) return bad("is a damaged JPEG (bad segment marker)");
    const code = marker[1]!;
    if (code === 0xff) {
      pos += 1; // fill byte
      continue;
    }
    if (code === 0xd8 || code === 0x01 || (code >= 0xd0 && code <= 0xd7)) {
      pos += 2;
      continue;
    }
    if (code === 0xd9 || code === 0xda) return bad("is a damaged JPEG (image data before any frame header)");
    const length = marker.readUInt16BE(2);
    if (length < 2) return bad("is a damaged JPEG (bad segment length)");
    const isFrame = code >= 0xc0 && code <= 0xcf && code !== 0xc4 && code !== 0xc8 && code !== 0xcc;
    if (isFrame) {
      const frame = at(pos + 4, 5);
      if (frame.length < 5) return bad("is a truncated JPEG (short frame header)");
      return sized("JPEG", frame.readUInt16BE(3), frame.readUInt16BE(1));
    }
    pos += 2 + length;
  }
  return bad("is a damaged JPEG (no frame header in its first segments)");
}

function png(head: Buffer): ImageHeader {
  if (head.length < 29 || head.readUInt32BE(8) !== 13 || head.toString("latin1", 12, 16) !== "IHDR") {
    return bad("is a damaged PNG (no IHDR header)");
  }
  const depth = head[24]!;
  const colour = head[25]!;
  if (![1, 2, 4, 8, 16].includes(depth) || ![0, 2, 3, 4, 6].includes(colour)) {
    return bad("is a damaged PNG (impossible bit depth or colour type)");
  }
  return sized("PNG", head.readUInt32BE(16), head.readUInt32BE(20));
}

function bmp(head: Buffer): ImageHeader {
  if (head.length < 26) return bad("is a truncated BMP");
  const dib = head.readUInt32LE(14);
  if (dib === 12) return sized("BMP", head.readUInt16LE(18), head.readUInt16LE(20));
  if (dib < 40) return bad("is a damaged BMP (unknown header)");
  return sized("BMP", head.readInt32LE(18), Math.abs(head.readInt32LE(22)));
}

function webp(head: Buffer): ImageHeader {
  const chunk = head.toString("latin1", 12, 16);
  if (chunk === "VP8 " && head.length >= 30 && head[23] === 0x9d && head[24] === 0x01 && head[25] === 0x2a) {
    return sized("WebP", head.readUInt16LE(26) & 0x3fff, head.readUInt16LE(28) & 0x3fff);
  }
  if (chunk === "VP8L" && head.length >= 25 && head[20] === 0x2f) {
    const bits = head.readUInt32LE(21);
    return sized("WebP", (bits & 0x3fff) + 1, ((bits >>> 14) & 0x3fff) + 1);
  }
  if (chunk === "VP8X" && head.length >= 30) {
    return sized("WebP", head.readUIntLE(24, 3) + 1, head.readUIntLE(27, 3) + 1);
  }
  return bad("is a damaged WebP (unknown or truncated bitstream header)");
}

function tiff(at: Bytes, little: boolean): ImageHeader {
  const u16 = (b: Buffer, i: number) => (little ? b.readUInt16LE(i) : b.readUInt16BE(i));
  const u32 = (b: Buffer, i: number) => (little ? b.readUInt32LE(i) : b.readUInt32BE(i));
  const ifd = u32(at(0, 8), 4);
  const countBytes = at(ifd, 2);
  if (countBytes.length < 2) return bad("is a truncated TIFF (no image directory)");
  const count = u16(countBytes, 0);
  const entries = at(ifd + 2, count * 12);
  if (entries.length < count * 12) return bad("is a truncated TIFF (short image directory)");
  let width = 0;
  let height = 0;
  for (let i = 0; i < count; i++) {
    const entry = i * 12;
    const tag = u16(entries, entry);
    if (tag !== 256 && tag !== 257) continue;
    const value = u16(entries, entry + 2) === 3 ? u16(entries, entry + 8) : u32(entries, entry + 8);
    if (tag === 256) width = value;
    else height = value;
  }
  return sized("TIFF", width, height);
}
