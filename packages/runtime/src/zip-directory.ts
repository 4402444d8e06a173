import { readSync } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import unzipper from "unzipper";

/** Why an archive was refused: unreadable (corrupted) or readable but unacceptable (invalid). */
export class ArchiveError extends Error {
  override name = "ArchiveError";
  constructor(
    readonly code: "DATASET_CORRUPTED" | "DATASET_INVALID",
    message: string,
    /** The entry at fault, as named in the archive. */
    readonly entry?: string,
  ) {
    super(message);
  }
}

export const corrupted = (message: string, entry?: string) => new ArchiveError("DATASET_CORRUPTED", message, entry);
export const invalid = (message: string, entry?: string) => new ArchiveError("DATASET_INVALID", message, entry);

const EOCD_SIGNATURE = 0x06054b50;
const ZIP64_LOCATOR_SIGNATURE = 0x07064b50;
const ZIP64_EOCD_SIGNATURE = 0x06064b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const LOCAL_SIGNATURE = 0x04034b50;
const EOCD_SIZE = 22;
const MAX_COMMENT = 0xffff;
const CENTRAL_HEADER_SIZE = 46;
const LOCAL_HEADER_SIZE = 30;

/** Where the central directory is, as the end-of-central-directory record says. */
export interface DirectoryLocation {
  eocdOffset: number;
  entries: number;
  offset: number;
  size: number;
}

/**
 * Finds the end-of-central-directory record by searching backwards, accepting only a record
 * whose comment ends exactly at the end of the file, and resolves Zip64. Refuses split archives
 * and an entry count over `maxEntries` before a single central record is parsed.
 */
export async function locateDirectory(
  fh: FileHandle,
  fileSize: number,
  maxEntries: number,
): Promise<DirectoryLocation> {
  const notZip = () =>
    corrupted("not a zip archive, or a truncated one: no end-of-central-directory record at the end of the file");
  if (fileSize < EOCD_SIZE) throw notZip();
  const tailLength = Math.min(fileSize, EOCD_SIZE + MAX_COMMENT);
  const tail = await readExactly(fh, fileSize - tailLength, tailLength);
  let at = -1;
  for (let i = tailLength - EOCD_SIZE; i >= 0; i--) {
    if (tail.readUInt32LE(i) === EOCD_SIGNATURE && i + EOCD_SIZE + tail.readUInt16LE(i + 20) === tailLength) {
      at = i;
      break;
    }
  }
  if (at < 0) throw notZip();
  const eocdOffset = fileSize - tailLength + at;
  let disk = tail.readUInt16LE(at + 4);
  let directoryDisk = tail.readUInt16LE(at + 6);
  let entriesOnDisk = tail.readUInt16LE(at + 8);
  let entries = tail.readUInt16LE(at + 10);
  let size = tail.readUInt32LE(at + 12);
  let offset = tail.readUInt32LE(at + 16);
  let directoryEnd = eocdOffset;
  if (entries === 0xffff || size === 0xffffffff || offset === 0xffffffff) {
    if (eocdOffset < 20) throw notZip();
    const locator = await readExactly(fh, eocdOffset - 20, 20);
    if (locator.readUInt32LE(0) !== ZIP64_LOCATOR_SIGNATURE)
      throw corrupted("damaged Zip64 end-of-central-directory locator");
    const recordOffset = safeNumber(locator.readBigUInt64LE(8));
    if (recordOffset + 56 > eocdOffset - 20) throw corrupted("damaged Zip64 end-of-central-directory locator");
    const record = await readExactly(fh, recordOffset, 56);
    if (record.readUInt32LE(0) !== ZIP64_EOCD_SIGNATURE)
      throw corrupted("damaged Zip64 end-of-central-directory record");
    disk = record.readUInt32LE(16);
    directoryDisk = record.readUInt32LE(20);
    entriesOnDisk = safeNumber(record.readBigUInt64LE(24));
    entries = safeNumber(record.readBigUInt64LE(32));
    size = safeNumber(record.readBigUInt64LE(40));
    offset = safeNumber(record.readBigUInt64LE(48));
    directoryEnd = recordOffset;
  }
  if (disk !== 0 || directoryDisk !== 0 || entriesOnDisk !== entries) {
    throw invalid("split (multi-part) zip archives are not supported: create a single .zip file");
  }
  if (entries > maxEntries) {
    throw corrupted(`archive lists ${entries} entries, over the limit of ${maxEntries}`);
  }
  if (offset + size > directoryEnd || entries * CENTRAL_HEADER_SIZE > size) {
    throw corrupted("truncated or damaged zip archive: the central directory does not fit in the file");
  }
  return { eocdOffset, entries, offset, size };
}

/**
 * The fields of a central-directory record that the guard uses, copied out of what unzipper's
 * Open API parses (whose records hold stream factories and buffers of the whole directory).
 */
export interface CentralEntry {
  signature: number;
  /** The name as unzipper decodes it (UTF-8), and its raw bytes for comparing with the local header. */
  path: string;
  pathBuffer: Buffer;
  flags: number;
  compressionMethod: number;
  crc32: number;
  compressedSize: number;
  uncompressedSize: number;
  externalFileAttributes: number;
  offsetToLocalFileHeader: number;
}

/** Parses the central directory with unzipper's `Open.file`, pointed at the record found above. */
export async function readCentralDirectory(
  zipPath: string,
  fileSize: number,
  location: DirectoryLocation,
): Promise<CentralEntry[]> {
  let files: unzipper.File[];
  try {
    // tailSize makes unzipper start its signature search exactly at the verified record
    const open = unzipper.Open.file as (
      path: string,
      options: { tailSize: number },
    ) => Promise<unzipper.CentralDirectory>;
    files = (await open(zipPath, { tailSize: fileSize - location.eocdOffset })).files;
  } catch (err) {
    throw corrupted(`damaged zip central directory: ${(err as Error).message}`);
  }
  if (files.length !== location.entries || files.some((f) => f.signature !== CENTRAL_SIGNATURE)) {
    throw corrupted("damaged zip central directory: its records do not match the end-of-central-directory record");
  }
  return files.map((file) => {
    const numbers = [file.compressedSize, file.uncompressedSize, file.offsetToLocalFileHeader, file.crc32];
    if (numbers.some((n) => typeof n !== "number" || !Number.isSafeInteger(n) || n < 0)) {
      throw corrupted(`damaged central directory record for ${JSON.stringify(file.path)}`, file.path);
    }
    return {
      signature: file.signature,
      path: file.path,
      pathBuffer: Buffer.from(file.pathBuffer),
      flags: file.flags,
      compressionMethod: file.compressionMethod,
      crc32: file.crc32,
      compressedSize: file.compressedSize,
      uncompressedSize: file.uncompressedSize,
      externalFileAttributes: file.externalFileAttributes,
      offsetToLocalFileHeader: file.offsetToLocalFileHeader,
    };
  });
}

/** Where an entry's compressed bytes are, after its local header was checked against the central record. */
export interface EntryData {
  /** The local header's offset. */
  offset: number;
  /** First byte of the compressed data. */
  start: number;
  /** First byte after the entry (data plus the shortest data descriptor), for the overlap check. */
  end: number;
}

/**
 * Reads every local header and returns where each entry's data lies. Refuses a local header that
 * disagrees with its central record (name, method, encryption), data beyond the central
 * directory, and entries whose bytes overlap — how non-recursive zip bombs reuse one payload.
 */
export async function locateEntryData(
  fh: FileHandle,
  entries: readonly CentralEntry[],
  directoryOffset: number,
): Promise<EntryData[]> {
  const located = new Array<EntryData>(entries.length);
  // Tens of thousands of small reads from the page cache: synchronous reads are ~10x cheaper than
  // a thread-pool round trip each; the event loop gets a turn between batches.
  for (let from = 0; from < entries.length; from += 2048) {
    for (let index = from; index < Math.min(entries.length, from + 2048); index++) {
      located[index] = readLocalHeader(fh.fd, entries[index]!, directoryOffset);
    }
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  const order = entries.map((_, i) => i).sort((a, b) => located[a]!.offset - located[b]!.offset);
  let previous: number | undefined;
  for (const index of order) {
    if (previous !== undefined && located[index]!.offset < located[previous]!.end) {
      const [a, b] = [entries[previous]!.path, entries[index]!.path];
      throw corrupted(
        `entries ${JSON.stringify(a)} and ${JSON.stringify(b)} overlap: a zip bomb or a damaged archive`,
        b,
      );
    }
    previous = index;
  }
  return located;
}

function readLocalHeader(fd: number, entry: CentralEntry, directoryOffset: number): EntryData {
  const offset = entry.offsetToLocalFileHeader;
  const nameLength = entry.pathBuffer.length;
  const truncated = () =>
    corrupted(
      `truncated zip archive: the data of ${JSON.stringify(entry.path)} runs past the end of the data`,
      entry.path,
    );
  if (offset + LOCAL_HEADER_SIZE + nameLength > directoryOffset) throw truncated();
  const header = Buffer.allocUnsafe(LOCAL_HEADER_SIZE + nameLength);
  if (readSync(fd, header, 0, header.length, offset) !== header.length) throw truncated();
  const disagrees = (what: string) =>
    corrupted(
      `local header of ${JSON.stringify(entry.path)} disagrees with the central directory (${what})`,
      entry.path,
    );
  if (header.readUInt32LE(0) !== LOCAL_SIGNATURE) throw disagrees("no local header at the recorded offset");
  if (header.readUInt16LE(8) !== entry.compressionMethod) throw disagrees("compression method");
  if ((header.readUInt16LE(6) & 0x1) !== (entry.flags & 0x1)) throw disagrees("encryption flag");
  if (header.readUInt16LE(26) !== nameLength || !header.subarray(LOCAL_HEADER_SIZE).equals(entry.pathBuffer)) {
    throw disagrees("file name");
  }
  const start = offset + LOCAL_HEADER_SIZE + nameLength + header.readUInt16LE(28);
  const end = start + entry.compressedSize + (entry.flags & 0x8 ? 12 : 0);
  if (end > directoryOffset) throw truncated();
  return { offset, start, end };
}

/** Reads `length` bytes at `position`, or fails as a truncated archive. */
export async function readExactly(fh: FileHandle, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.allocUnsafe(length);
  let read = 0;
  while (read < length) {
    const { bytesRead } = await fh.read(buffer, read, length - read, position + read);
    if (bytesRead === 0) throw corrupted("truncated zip archive: unexpected end of file");
    read += bytesRead;
  }
  return buffer;
}

function safeNumber(value: bigint): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw corrupted("damaged Zip64 record: impossible size or offset");
  return Number(value);
}
