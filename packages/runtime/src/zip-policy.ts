import { join, resolve, sep } from "node:path";
import { z } from "zod";
import { corrupted, invalid, type CentralEntry } from "./zip-directory.js";

export interface ZipLimits {
  /** Most entries (files and folders) an archive may list. */
  maxEntries: number;
  /** Most bytes the archive may inflate to, counted as inflated; inflation stops past it. */
  maxTotalBytes: number;
  /** Largest inflated/archive size ratio, for the archive and for any entry above 1 MiB. */
  maxRatio: number;
}

export const DEFAULT_ZIP_LIMITS: ZipLimits = {
  maxEntries: 200_000,
  maxTotalBytes: 20 * 1024 ** 3,
  maxRatio: 200,
};

const positiveInt = z.coerce.number().int().positive();

/**
 * The operator's archive limits, read by the dataset service (which inspects every archive) and
 * by each trainer-agent (which extracts it again): one setting, the same limits on both sides.
 */
export const zipLimitsEnv = {
  /** Most entries (files and folders) a dataset archive may hold. */
  DATASET_MAX_ENTRIES: positiveInt.default(DEFAULT_ZIP_LIMITS.maxEntries),
  /** Most bytes a dataset archive may inflate to, counted while inflating. */
  DATASET_MAX_EXTRACTED_BYTES: positiveInt.default(DEFAULT_ZIP_LIMITS.maxTotalBytes),
  /** Largest inflated/compressed ratio accepted (zip bomb guard), for the archive and any entry over 1 MiB. */
  DATASET_MAX_COMPRESSION_RATIO: positiveInt.default(DEFAULT_ZIP_LIMITS.maxRatio),
};

/** The limits of a service's `zipLimitsEnv` settings. */
export function zipLimitsOf(env: {
  DATASET_MAX_ENTRIES: number;
  DATASET_MAX_EXTRACTED_BYTES: number;
  DATASET_MAX_COMPRESSION_RATIO: number;
}): ZipLimits {
  return {
    maxEntries: env.DATASET_MAX_ENTRIES,
    maxTotalBytes: env.DATASET_MAX_EXTRACTED_BYTES,
    maxRatio: env.DATASET_MAX_COMPRESSION_RATIO,
  };
}

/** An entry that passed every check that can be made before inflating it. */
export interface PlannedEntry {
  entry: CentralEntry;
  /** Path segments inside the extraction folder. */
  segments: string[];
  directory: boolean;
}

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;
export const STORED = 0;
export const DEFLATED = 8;
const AES_ENCRYPTED = 99;
const METHOD_NAMES: Record<number, string> = {
  9: "Deflate64",
  12: "bzip2",
  14: "LZMA",
  93: "Zstandard",
  95: "XZ",
  98: "PPMd",
};
/** Ratio checks ignore entries below this inflated size: tiny files compress oddly but harmlessly. */
const RATIO_FLOOR = 1024 ** 2;
const MAX_DEPTH = 64;
const MAX_NAME_LENGTH = 1024;

/**
 * The path segments of an archive entry name, refusing anything that could land outside the
 * extraction folder on any platform: absolute and drive paths, `..` segments (backslashes count
 * as separators, so `..\\x` is caught too), control characters, absurd depth or length.
 */
export function entrySegments(name: string): string[] {
  const refuse = (why: string) => invalid(`archive entry ${JSON.stringify(name)} ${why}`, name);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) throw refuse("has a control character in its name");
  const slashed = name.replace(/\\/g, "/");
  if (slashed.startsWith("/") || /^[A-Za-z]:/.test(slashed)) throw refuse("has an absolute path");
  const segments = slashed.split("/").filter((s) => s !== "" && s !== ".");
  if (segments.includes("..")) throw refuse("has a '..' segment: it escapes the dataset folder");
  if (segments.length > MAX_DEPTH || name.length > MAX_NAME_LENGTH)
    throw refuse("is nested too deep or named too long");
  if (segments.some((s) => Buffer.byteLength(s) > 255)) throw refuse("has a name part longer than 255 bytes");
  return segments;
}

/** The entry's path inside `dest`, or an ArchiveError when its name is refused. */
export function entryTarget(dest: string, entryPath: string): string {
  const root = resolve(dest);
  const target = join(root, ...entrySegments(entryPath));
  if (target !== root && !target.startsWith(root + sep)) {
    throw invalid(`archive entry ${JSON.stringify(entryPath)} escapes the dataset folder`, entryPath);
  }
  return target;
}

/**
 * Checks every central-directory record before anything is inflated: names, links and special
 * files, encryption, compression methods, duplicates (after Unicode normalisation and case
 * folding), stored sizes, declared total and compression ratio.
 */
export function planEntries(entries: readonly CentralEntry[], archiveSize: number, limits: ZipLimits): PlannedEntry[] {
  const files = new Map<string, string>();
  const folders = new Map<string, string>();
  let declared = 0;
  const planned = entries.map((entry) => {
    const name = entry.path;
    const segments = entrySegments(name);
    const mode = (entry.externalFileAttributes >>> 16) & S_IFMT;
    if (mode === S_IFLNK) throw invalid(`archive entry ${JSON.stringify(name)} is a symbolic link`, name);
    if (mode !== 0 && mode !== S_IFREG && mode !== S_IFDIR) {
      throw invalid(`archive entry ${JSON.stringify(name)} is a device, pipe or socket, not a file`, name);
    }
    if (entry.flags & 0x41 || entry.compressionMethod === AES_ENCRYPTED) {
      throw invalid(`archive entry ${JSON.stringify(name)} is encrypted: create the archive without a password`, name);
    }
    if (entry.compressionMethod !== STORED && entry.compressionMethod !== DEFLATED) {
      const method = METHOD_NAMES[entry.compressionMethod] ?? `method ${entry.compressionMethod}`;
      throw invalid(
        `archive entry ${JSON.stringify(name)} is compressed with ${method}: re-create the archive with standard zip (Deflate) compression`,
        name,
      );
    }
    const directory = /[/\\]$/.test(name) || mode === S_IFDIR;
    if (directory && entry.uncompressedSize > 0) {
      throw corrupted(`archive folder entry ${JSON.stringify(name)} has content`, name);
    }
    if (!directory && segments.length === 0) throw invalid(`archive entry ${JSON.stringify(name)} names no file`, name);
    if (entry.compressionMethod === STORED && entry.compressedSize !== entry.uncompressedSize) {
      throw corrupted(`archive entry ${JSON.stringify(name)} is stored but its sizes differ`, name);
    }
    if (entry.uncompressedSize > RATIO_FLOOR && entry.uncompressedSize > entry.compressedSize * limits.maxRatio) {
      throw corrupted(
        `archive entry ${JSON.stringify(name)} would inflate ${entry.compressedSize} bytes to ${entry.uncompressedSize} (ratio over ${limits.maxRatio}): a zip bomb?`,
        name,
      );
    }
    declared += entry.uncompressedSize;
    registerPath(name, segments, directory, files, folders);
    return { entry, segments, directory };
  });
  if (declared > limits.maxTotalBytes) {
    throw corrupted(`archive would inflate to ${declared} bytes, over the limit of ${limits.maxTotalBytes} bytes`);
  }
  if (declared > RATIO_FLOOR && declared > archiveSize * limits.maxRatio) {
    throw corrupted(
      `archive would inflate ${archiveSize} bytes to ${declared} (ratio ${Math.round(declared / archiveSize)}, limit ${limits.maxRatio}): a zip bomb?`,
    );
  }
  return planned;
}

/** Refuses two entries that would be one file on a case-insensitive or normalising file system. */
function registerPath(
  name: string,
  segments: string[],
  directory: boolean,
  files: Map<string, string>,
  folders: Map<string, string>,
): void {
  const fold = (parts: string[]) => parts.join("/").normalize("NFC").toLowerCase();
  const clash = (other: string) =>
    invalid(
      other === name
        ? `archive holds ${JSON.stringify(name)} twice`
        : `archive holds ${JSON.stringify(name)} and ${JSON.stringify(other)}, which name the same path`,
      name,
    );
  const parents = directory ? segments.length : segments.length - 1;
  for (let depth = 1; depth <= parents; depth++) {
    const key = fold(segments.slice(0, depth));
    const file = files.get(key);
    if (file !== undefined) throw clash(file);
    if (!folders.has(key)) folders.set(key, name);
  }
  if (directory) return;
  const key = fold(segments);
  const other = files.get(key) ?? folders.get(key);
  if (other !== undefined) throw clash(other);
  files.set(key, name);
}
