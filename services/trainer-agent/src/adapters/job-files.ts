import { createHash, randomUUID } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, readdir, rename, rm, stat, utimes } from "node:fs/promises";
import { join } from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { retryTransient, type ObjectStore, type TransientRetry } from "@trainyard/runtime";

/** Archives kept per host beyond the most recent ones are removed once unused for this long. */
const CACHE_KEEP = 4;
const CACHE_IDLE_MS = 60 * 60 * 1000;
/**
 * Chunk size of an upload: a checkpoint (about 30 MB with its optimizer state, every epoch) goes
 * in 60 messages instead of the client's 240 of 128 KiB, each one replicated and flushed to disk
 * by every node of a cluster (about 40 % less NATS CPU and time per checkpoint, measured in
 * docs/benchmarks.md). Within the server's default 1 MiB message limit.
 */
const UPLOAD_CHUNK_BYTES = 512 * 1024;

/** Moves a job's files between this host and the NATS object stores. */
export interface JobFiles {
  /**
   * The dataset archive whose content digest is `sha256`, in `cacheDir`: fetched from the store
   * once per host and checked against the digest, then reused by every job on the same dataset.
   */
  datasetArchive(objectName: string, sha256: string, cacheDir: string): Promise<string>;
  /** Uploads a file; returns its size in bytes. */
  uploadArtifact(objectName: string, source: string): Promise<number>;
}

/**
 * The job files of one agent. `retry` rides out a NATS outage: a fetch or an upload that fails
 * transiently is done again from the start (an upload replaces the whole object).
 */
export function jobFiles(datasets: ObjectStore, artifacts: ObjectStore, retry: TransientRetry): JobFiles {
  return {
    async datasetArchive(objectName, sha256, cacheDir) {
      const cached = join(cacheDir, `${sha256}.zip`);
      const now = new Date();
      try {
        // the modification time is the cache's recency: a hit refreshes it
        await utimes(cached, now, now);
        // hashed again before each use: a cached archive changed on disk (torn, or planted) is fetched again
        if ((await sha256Of(cached)) === sha256) return cached;
        await rm(cached, { force: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      }
      await mkdir(cacheDir, { recursive: true });
      // fetched under a private name and renamed when complete: a concurrent job sees all or nothing
      const part = join(cacheDir, `.${sha256}.${randomUUID()}.part`);
      try {
        await retryTransient(async () => {
          const object = await datasets.get(objectName);
          if (!object) throw new Error(`dataset object ${objectName} is missing`);
          const hash = createHash("sha256");
          const hashing = new Transform({
            transform(chunk: Buffer, _encoding, callback) {
              hash.update(chunk);
              callback(null, chunk);
            },
          });
          await pipeline(Readable.fromWeb(object.data), hashing, createWriteStream(part));
          const error = await object.error;
          if (error) throw error;
          const digest = hash.digest("hex");
          if (digest !== sha256) {
            throw new Error(`dataset object ${objectName} has digest ${digest}, expected ${sha256}`);
          }
        }, retry);
        await rename(part, cached);
      } finally {
        await rm(part, { force: true });
      }
      await evictIdleArchives(cacheDir, cached);
      return cached;
    },
    async uploadArtifact(objectName, source) {
      const { size } = await stat(source);
      await retryTransient(async () => {
        const body = Readable.toWeb(createReadStream(source)) as unknown as ReadableStream<Uint8Array>;
        await artifacts.put({ name: objectName, options: { max_chunk_size: UPLOAD_CHUNK_BYTES } }, body);
      }, retry);
      return size;
    },
  };
}

/** Removes cached archives beyond the CACHE_KEEP most recent that no job used for CACHE_IDLE_MS. */
async function evictIdleArchives(cacheDir: string, keep: string): Promise<void> {
  const names = (await readdir(cacheDir)).filter((name) => name.endsWith(".zip"));
  const archives = await Promise.all(
    names.map(async (name) => ({ path: join(cacheDir, name), mtime: (await stat(join(cacheDir, name))).mtimeMs })),
  );
  archives.sort((a, b) => b.mtime - a.mtime);
  const idleSince = Date.now() - CACHE_IDLE_MS;
  for (const archive of archives.slice(CACHE_KEEP)) {
    if (archive.path !== keep && archive.mtime < idleSince) await rm(archive.path, { force: true });
  }
}

/** The SHA-256 of a file's bytes, hex. */
async function sha256Of(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}
