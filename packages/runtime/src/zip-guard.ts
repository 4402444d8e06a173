import { createWriteStream } from "node:fs";
import { mkdir } from "node:fs/promises";
import { dirname, isAbsolute, normalize, resolve, sep } from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import unzipper from "unzipper";

/** Why an archive was refused: unreadable (corrupted) or readable but unacceptable (invalid). */
export class ArchiveError extends Error {
  override name = "ArchiveError";
  constructor(
    readonly code: "DATASET_CORRUPTED" | "DATASET_INVALID",
    message: string,
  ) {
    super(message);
  }
}

export interface ZipLimits {
  maxEntries: number;
  /** Sum of all extracted bytes, counted as written (headers can lie). */
  maxTotalBytes: number;
  /** Largest allowed uncompressed/compressed ratio for the whole archive. */
  maxRatio: number;
}

export const DEFAULT_ZIP_LIMITS: ZipLimits = {
  maxEntries: 200_000,
  maxTotalBytes: 20 * 1024 ** 3,
  maxRatio: 200,
};

const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;

/** The entry's path inside `dest`, or an error when it would land anywhere else. */
export function entryTarget(dest: string, entryPath: string): string {
  const cleaned = entryPath.replace(/\\/g, "/");
  if (cleaned.includes("\0") || isAbsolute(cleaned) || /^[A-Za-z]:/.test(cleaned)) {
    throw new ArchiveError("DATASET_INVALID", `archive entry has an absolute path: ${JSON.stringify(entryPath)}`);
  }
  const root = resolve(dest);
  const target = resolve(root, normalize(cleaned));
  if (target !== root && !target.startsWith(root + sep)) {
    throw new ArchiveError("DATASET_INVALID", `archive entry escapes the dataset folder: ${JSON.stringify(entryPath)}`);
  }
  return target;
}

/**
 * Extracts a zip file into `dest`. Every entry is checked before anything is written: no path
 * may leave `dest`, links are refused, and the entry count, total size and compression ratio
 * are bounded — the size while writing, so a lying header cannot exceed it.
 */
export async function extractZip(
  zipPath: string,
  dest: string,
  limits: ZipLimits = DEFAULT_ZIP_LIMITS,
): Promise<number> {
  let directory: unzipper.CentralDirectory;
  try {
    directory = await unzipper.Open.file(zipPath);
  } catch (err) {
    throw new ArchiveError("DATASET_CORRUPTED", `not a readable zip archive: ${(err as Error).message}`);
  }
  if (directory.files.length > limits.maxEntries) {
    throw new ArchiveError(
      "DATASET_INVALID",
      `archive has ${directory.files.length} entries (limit ${limits.maxEntries})`,
    );
  }
  let declared = 0;
  let compressed = 0;
  for (const entry of directory.files) {
    entryTarget(dest, entry.path);
    if (((entry.externalFileAttributes >>> 16) & S_IFMT) === S_IFLNK) {
      throw new ArchiveError("DATASET_INVALID", `archive entry is a symbolic link: ${JSON.stringify(entry.path)}`);
    }
    declared += entry.uncompressedSize;
    compressed += entry.compressedSize;
  }
  if (declared > limits.maxTotalBytes) {
    throw new ArchiveError("DATASET_INVALID", `archive expands to ${declared} bytes (limit ${limits.maxTotalBytes})`);
  }
  if (compressed > 0 && declared / compressed > limits.maxRatio) {
    throw new ArchiveError(
      "DATASET_INVALID",
      `archive compression ratio ${Math.round(declared / compressed)} exceeds ${limits.maxRatio}`,
    );
  }

  let written = 0;
  await mkdir(dest, { recursive: true });
  for (const entry of directory.files) {
    const target = entryTarget(dest, entry.path);
    try {
      // a file entry `a` followed by `a/b.txt` makes these fail: the archive's fault, not ours
      await mkdir(entry.type === "Directory" ? target : dirname(target), { recursive: true });
    } catch (err) {
      throw new ArchiveError(
        "DATASET_INVALID",
        `cannot create the folder of ${JSON.stringify(entry.path)}: ${(err as Error).message}`,
      );
    }
    if (entry.type === "Directory") continue;
    const meter = new Transform({
      transform(chunk: Buffer, _enc, callback) {
        written += chunk.length;
        if (written > limits.maxTotalBytes) {
          callback(new ArchiveError("DATASET_INVALID", `archive expands past ${limits.maxTotalBytes} bytes`));
        } else {
          callback(null, chunk);
        }
      },
    });
    try {
      await pipeline(entry.stream(), meter, createWriteStream(target, { flags: "wx" }));
    } catch (err) {
      if (err instanceof ArchiveError) throw err;
      if ((err as NodeJS.ErrnoException).code === "EEXIST" || (err as NodeJS.ErrnoException).code === "EISDIR") {
        throw new ArchiveError("DATASET_INVALID", `archive holds ${JSON.stringify(entry.path)} twice`);
      }
      throw new ArchiveError(
        "DATASET_CORRUPTED",
        `cannot extract ${JSON.stringify(entry.path)}: ${(err as Error).message}`,
      );
    }
  }
  return directory.files.length;
}
