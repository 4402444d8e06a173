import { createWriteStream } from "node:fs";
import { mkdir, open, writeFile, type FileHandle } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { Writable } from "node:stream";
import { locateDirectory, locateEntryData, readCentralDirectory, type EntryData } from "./zip-directory.js";
import { walkEntries, writeFailure, type EntrySink } from "./zip-entries.js";
import { DEFAULT_ZIP_LIMITS, planEntries, type PlannedEntry, type ZipLimits } from "./zip-policy.js";

export { ArchiveError } from "./zip-directory.js";
export {
  DEFAULT_ZIP_LIMITS,
  entrySegments,
  entryTarget,
  zipLimitsEnv,
  zipLimitsOf,
  type ZipLimits,
} from "./zip-policy.js";

/** What an extraction wrote. */
export interface ExtractedArchive {
  files: number;
  directories: number;
  /** Bytes written, as inflated (equal to the declared sizes, which were checked). */
  bytes: number;
}

/** What an inspection saw: every path, `/`-separated, relative to the archive root. */
export interface InspectedArchive {
  files: Array<{ path: string; size: number }>;
  /** Every folder, named by an entry or implied by a file's path. */
  directories: string[];
  bytes: number;
}

export interface InspectOptions {
  /** How many bytes of a file inflated by streaming (over 2 MiB) to give `onFile`; none by default. */
  keep?: (path: string) => number;
  /**
   * Called for every file once it passed its checks: its whole content when it was inflated in
   * memory (up to 2 MiB) or the first `keep(path)` bytes of a larger one (`complete` says which).
   */
  onFile?: (path: string, content: Buffer, complete: boolean) => void;
  /** Stops the inspection before the next entry (or during a streamed one), rejecting with its reason. */
  signal?: AbortSignal;
}

/** Writes in flight at once during extraction, and the content they may hold in memory together. */
const MAX_WRITES = 16;
const MAX_WRITE_BYTES = 32 * 1024 ** 2;

/**
 * Extracts `zipPath` into `dest`, a folder that must not exist yet. The central directory and
 * every local header are checked before anything is written: entry names, links and special
 * files, encryption, compression methods, duplicates (after Unicode normalisation and case
 * folding), overlapping entries, entry count, declared size and ratio. Inflation is bounded per
 * entry by its declared size, so nothing inflates past what was checked, and every entry's size
 * and CRC-32 are verified. Nested archives are written as plain files, never opened. `signal`
 * stops it before the next entry (or during a streamed one), rejecting with its reason; what was
 * written stays for the caller to remove.
 */
export async function extractZip(
  zipPath: string,
  dest: string,
  limits: ZipLimits = DEFAULT_ZIP_LIMITS,
  signal?: AbortSignal,
): Promise<ExtractedArchive> {
  return withArchive(zipPath, limits, signal, async (walk) => {
    const root = resolve(dest);
    await mkdir(dirname(root), { recursive: true });
    // a fresh folder: nothing in it can be a link planted earlier
    await mkdir(root);
    const folders = folderPaths(walk.planned);
    for (const folder of folders) await mkdir(join(root, ...folder.split("/")), { recursive: true });
    const writes = new WriteQueue(walk.abort);
    const sink: EntrySink = {
      whole: ({ entry, segments }, _path, content) =>
        writes.add(
          content.length,
          () => writeFile(join(root, ...segments), content, { flag: "wx" }),
          (err) => writeFailure(entry, err),
        ),
      stream: ({ segments }) => createWriteStream(join(root, ...segments), { flags: "wx" }),
      streamed: () => undefined,
    };
    try {
      const bytes = await walkEntries(walk, sink);
      await writes.settled();
      return { files: walk.planned.filter((p) => !p.directory).length, directories: folders.length, bytes };
    } catch (err) {
      walk.abort.abort();
      await writes.settled().catch(() => undefined);
      throw err;
    }
  });
}

/**
 * Checks `zipPath` exactly as extractZip does (every refusal, every entry inflated, sized and
 * CRC-checked) without writing a byte anywhere: for a service that only validates an archive
 * that others will extract. What each file held goes to `options.onFile`.
 */
export async function inspectZip(
  zipPath: string,
  limits: ZipLimits = DEFAULT_ZIP_LIMITS,
  options: InspectOptions = {},
): Promise<InspectedArchive> {
  return withArchive(zipPath, limits, options.signal, async (walk) => {
    const heads = new Map<string, Buffer[]>();
    const sink: EntrySink = {
      whole: async (_file, path, content) => options.onFile?.(path, content, true),
      stream: (_file, path) => keeper(options.keep?.(path) ?? 0, (chunks) => heads.set(path, chunks)),
      streamed: ({ entry }, path) => {
        const head = Buffer.concat(heads.get(path) ?? []);
        heads.delete(path);
        options.onFile?.(path, head, head.length === entry.uncompressedSize);
      },
    };
    const bytes = await walkEntries(walk, sink);
    const files = walk.planned
      .filter((p) => !p.directory)
      .map((p) => ({ path: p.segments.join("/"), size: p.entry.uncompressedSize }));
    return { files, directories: folderPaths(walk.planned), bytes };
  });
}

interface OpenedArchive {
  zipPath: string;
  fh: FileHandle;
  planned: PlannedEntry[];
  data: EntryData[];
  limits: ZipLimits;
  directoryOffset: number;
  abort: AbortController;
  signal: AbortSignal;
}

/** Opens and checks everything that can be checked before inflating, then runs `use`. */
async function withArchive<T>(
  zipPath: string,
  limits: ZipLimits,
  stop: AbortSignal | undefined,
  use: (walk: OpenedArchive) => Promise<T>,
): Promise<T> {
  let fh: FileHandle;
  try {
    fh = await open(zipPath, "r");
  } catch (err) {
    throw new Error(`cannot open ${zipPath}: ${(err as Error).message}`, { cause: err });
  }
  try {
    const { size } = await fh.stat();
    const location = await locateDirectory(fh, size, limits.maxEntries);
    const entries = await readCentralDirectory(zipPath, size, location);
    const planned = planEntries(entries, size, limits);
    const data = await locateEntryData(fh, entries, location.offset);
    const abort = new AbortController();
    return await use({
      zipPath,
      fh,
      planned,
      data,
      limits,
      directoryOffset: location.offset,
      abort,
      signal: stop ? AbortSignal.any([abort.signal, stop]) : abort.signal,
    });
  } finally {
    await fh.close();
  }
}

/** Every folder the entries name or imply, parents first. */
function folderPaths(planned: readonly PlannedEntry[]): string[] {
  const folders = new Set<string>();
  for (const { segments, directory } of planned) {
    const depth = directory ? segments.length : segments.length - 1;
    for (let d = 1; d <= depth; d++) folders.add(segments.slice(0, d).join("/"));
  }
  return [...folders].sort((a, b) => a.split("/").length - b.split("/").length || a.localeCompare(b));
}

/** A sink that keeps the first `limit` bytes and drops the rest. */
function keeper(limit: number, done: (chunks: Buffer[]) => void): Writable {
  const chunks: Buffer[] = [];
  let kept = 0;
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      if (kept < limit) {
        chunks.push(chunk.subarray(0, Math.min(chunk.length, limit - kept)));
        kept += Math.min(chunk.length, limit - kept);
      }
      callback();
    },
    final(callback) {
      done(chunks);
      callback();
    },
  });
}

/** Writes in flight, bounded in count and bytes; the first failure aborts the extraction. */
class WriteQueue {
  private readonly pending = new Set<Promise<void>>();
  private bytes = 0;
  private failure: { error: unknown } | null = null;
  constructor(private readonly abort: AbortController) {}

  async add(bytes: number, start: () => Promise<void>, explain: (err: unknown) => Error): Promise<void> {
    while (this.pending.size >= MAX_WRITES || (this.bytes + bytes > MAX_WRITE_BYTES && this.pending.size > 0)) {
      await Promise.race(this.pending);
    }
    if (this.failure) throw this.failure.error;
    this.bytes += bytes;
    const write: Promise<void> = start()
      .catch((err: unknown) => {
        this.failure ??= { error: explain(err) };
        this.abort.abort();
      })
      .finally(() => {
        this.bytes -= bytes;
        this.pending.delete(write);
      });
    this.pending.add(write);
  }

  /** Waits for every write in flight; throws the first failure. */
  async settled(): Promise<void> {
    await Promise.all(this.pending);
    if (this.failure) throw this.failure.error;
  }
}
