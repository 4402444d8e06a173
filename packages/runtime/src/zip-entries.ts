import { createReadStream } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import { Transform, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import zlib from "node:zlib";
import { ArchiveError, corrupted, invalid, readExactly, type CentralEntry, type EntryData } from "./zip-directory.js";
import { DEFLATED, type PlannedEntry, type ZipLimits } from "./zip-policy.js";

/** Entries this small are read and inflated in memory; larger ones stream. Bounds memory per entry. */
const IN_MEMORY_COMPRESSED = 1024 ** 2;
const IN_MEMORY_INFLATED = 2 * 1024 ** 2;
/** Sequential reads of the archive's data, one read ahead: most entries are found in memory. */
const BATCH_BYTES = 4 * 1024 ** 2;

/** Where verified entry content goes: extraction writes it, inspection looks at it. */
export interface EntrySink {
  /** A small entry's whole content, already verified (size and CRC-32). */
  whole(file: PlannedEntry, path: string, content: Buffer): Promise<void>;
  /** Where a large entry's bytes stream as they are inflated; they are verified when it ends. */
  stream(file: PlannedEntry, path: string): Writable;
  /** A large entry passed its checks. */
  streamed(file: PlannedEntry, path: string): void;
}

export interface EntryWalk {
  zipPath: string;
  fh: FileHandle;
  planned: PlannedEntry[];
  data: EntryData[];
  limits: ZipLimits;
  /** Where the central directory starts: no entry data lies past it. */
  directoryOffset: number;
  /** Aborts streams in flight when the walk fails. */
  signal: AbortSignal;
}

/**
 * Inflates every file entry in archive order, each bounded by its declared size and checked
 * against its size and CRC-32, and hands the content to `sink`. Small entries are sliced from
 * large sequential reads and inflated on this thread; large ones stream. Returns the bytes inflated.
 */
export async function walkEntries(walk: EntryWalk, sink: EntrySink): Promise<number> {
  const files = walk.planned
    .map((file, i) => ({ file, where: walk.data[i]! }))
    .filter(({ file }) => !file.directory)
    .sort((a, b) => a.where.start - b.where.start);
  const reader = new BatchReader(walk.fh, walk.directoryOffset);
  let inflated = 0;
  for (const { file, where } of files) {
    walk.signal.throwIfAborted();
    const { entry, segments } = file;
    const path = segments.join("/");
    if (entry.compressedSize <= IN_MEMORY_COMPRESSED && entry.uncompressedSize <= IN_MEMORY_INFLATED) {
      await sink.whole(file, path, inflateInMemory(entry, await reader.slice(where.start, entry.compressedSize)));
    } else {
      await inflateStreamed(walk, entry, where, sink.stream(file, path));
      sink.streamed(file, path);
    }
    inflated += entry.uncompressedSize;
    if (inflated > walk.limits.maxTotalBytes) {
      throw corrupted(`archive inflates past the limit of ${walk.limits.maxTotalBytes} bytes`, entry.path);
    }
  }
  return inflated;
}

/** Inflates (or copies) one small entry in memory, bounded by its declared size, and verifies it. */
function inflateInMemory(entry: CentralEntry, compressed: Buffer): Buffer {
  let content = compressed;
  if (entry.compressionMethod === DEFLATED && entry.uncompressedSize + entry.compressedSize > 0) {
    try {
      content = zlib.inflateRawSync(compressed, {
        maxOutputLength: Math.max(1, entry.uncompressedSize),
        chunkSize: Math.max(64, Math.min(entry.uncompressedSize + 1, IN_MEMORY_INFLATED)),
      });
    } catch (err) {
      throw inflateFailure(entry, err);
    }
  }
  verify(entry, content.length, zlib.crc32(content));
  return content;
}

async function inflateStreamed(walk: EntryWalk, entry: CentralEntry, where: EntryData, sink: Writable): Promise<void> {
  let inflated = 0;
  let crc = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      inflated += chunk.length;
      // stop inflating the moment an entry outgrows the size that passed the checks
      if (inflated > entry.uncompressedSize) return callback(outgrown(entry));
      crc = zlib.crc32(chunk, crc);
      callback(null, chunk);
    },
  });
  // only entries declaring over 2 MiB stream: with no compressed bytes, none of that can be real
  if (entry.compressedSize === 0) verify(entry, 0, 0);
  const source = createReadStream(walk.zipPath, {
    start: where.start,
    end: where.start + entry.compressedSize - 1,
    highWaterMark: 256 * 1024,
  });
  const inflater = entry.compressionMethod === DEFLATED ? [zlib.createInflateRaw()] : [];
  try {
    await pipeline([source, ...inflater, meter, sink], { signal: walk.signal });
  } catch (err) {
    if (err instanceof ArchiveError) throw err;
    if (typeof (err as { syscall?: unknown }).syscall === "string") throw writeFailure(entry, err);
    throw inflateFailure(entry, err);
  }
  verify(entry, inflated, crc);
}

function verify(entry: CentralEntry, size: number, crc: number): void {
  if (size !== entry.uncompressedSize) {
    throw corrupted(
      `archive entry ${JSON.stringify(entry.path)} inflates to ${size} bytes, but the archive says ${entry.uncompressedSize}`,
      entry.path,
    );
  }
  if (crc >>> 0 !== entry.crc32 >>> 0) {
    throw corrupted(
      `archive entry ${JSON.stringify(entry.path)} fails its CRC-32 check: the archive is damaged`,
      entry.path,
    );
  }
}

function outgrown(entry: CentralEntry): ArchiveError {
  return corrupted(
    `archive entry ${JSON.stringify(entry.path)} inflates past its declared ${entry.uncompressedSize} bytes: a zip bomb or a damaged archive`,
    entry.path,
  );
}

function inflateFailure(entry: CentralEntry, err: unknown): ArchiveError {
  if ((err as { code?: string }).code === "ERR_BUFFER_TOO_LARGE") return outgrown(entry);
  return corrupted(
    `archive entry ${JSON.stringify(entry.path)} cannot be inflated: ${(err as Error).message}`,
    entry.path,
  );
}

/** A file that cannot be created is the archive's fault only when it clashes; a full disk is ours. */
export function writeFailure(entry: CentralEntry, err: unknown): Error {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === "EEXIST" || code === "EISDIR" || code === "ENOTDIR") {
    return invalid(`archive holds ${JSON.stringify(entry.path)} twice`, entry.path);
  }
  return err as Error;
}

/** Reads the archive front to back in large blocks, one block ahead of the entry being inflated. */
class BatchReader {
  private current: { start: number; buffer: Buffer } | null = null;
  private ahead: { start: number; read: Promise<Buffer> } | null = null;
  constructor(
    private readonly fh: FileHandle,
    private readonly end: number,
  ) {}

  async slice(start: number, length: number): Promise<Buffer> {
    let current = this.current;
    if (!current || start < current.start || start + length > current.start + current.buffer.length) {
      const ahead = this.ahead;
      this.ahead = null;
      const early = ahead && ahead.start <= start ? await ahead.read : null;
      current =
        early && ahead && start + length <= ahead.start + early.length
          ? { start: ahead.start, buffer: early }
          : { start, buffer: await this.read(start, length) };
      this.current = current;
      const next = current.start + current.buffer.length;
      if (next < this.end) {
        const read = this.read(next, BATCH_BYTES);
        read.catch(() => undefined); // awaited when used; a failure then surfaces there
        this.ahead = { start: next, read };
      }
    }
    const offset = start - current.start;
    return current.buffer.subarray(offset, offset + length);
  }

  private read(start: number, length: number): Promise<Buffer> {
    return readExactly(this.fh, start, Math.min(Math.max(length, BATCH_BYTES), this.end - start));
  }
}
