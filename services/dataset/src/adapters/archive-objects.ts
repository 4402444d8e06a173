import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { headers, type NatsConnection } from "@nats-io/transport-node";
import { isKvConflict, isNotFound, ttlHeader } from "@trainyard/runtime";

/** Metadata key holding when a job last took an archive into use (ISO time). */
export const USED_AT_KEY = "trainyard-used-at";

/** The stored metadata of one archive, as the object store spec lays it out (ADR-20). */
interface RawMeta {
  name: string;
  nuid: string;
  deleted?: boolean;
  size: number;
  chunks: number;
  digest: string;
  mtime: string;
  metadata?: Record<string, string>;
  [field: string]: unknown;
}

/** One archive's metadata at one revision. */
export interface ArchiveMeta {
  name: string;
  deleted: boolean;
  /** Revision of the metadata: every conditional write names it. */
  revision: number;
  /** When a job last took the archive into use (its upload, or a later reuse), epoch ms. */
  usedAt: number;
  raw: RawMeta;
}

/**
 * Conditional writes of the archives' metadata in an object store. The object store client's own
 * update and delete write unconditionally; these are compare-and-sets on the metadata's revision,
 * so a delete never removes an archive a job has just taken into use, and marking one used never
 * brings back one deleted in between.
 */
export interface ArchiveObjects {
  /** Every archive's metadata, deleted ones (until their marker expires) included. */
  list(): Promise<ArchiveMeta[]>;
  /**
   * Records that a job takes the archive into use now, merging `metadata` in. False when the
   * archive is absent or deleted (then it has to be stored again).
   */
  markUsed(name: string, at: Date, metadata?: Record<string, string>): Promise<boolean>;
  /** Deletes the archive if its metadata is still at `meta.revision`; false when it changed first. */
  deleteIfUnchanged(meta: ArchiveMeta): Promise<boolean>;
  /** Purges the chunks of a deleted archive (again: a crash may have cut its deletion short). */
  purgeChunks(meta: ArchiveMeta): Promise<void>;
}

/**
 * The archives of object store `bucket` (the datasets store). A deleted archive's marker expires
 * after `markerTtlMs`, so deletions leave nothing behind for ever.
 */
export async function archiveObjects(
  nc: NatsConnection,
  bucket: string,
  opts: { markerTtlMs: number },
): Promise<ArchiveObjects> {
  const jsm = await jetstreamManager(nc);
  const js = jsm.jetstream();
  const stream = `OBJ_${bucket}`;
  const metaSubject = (name: string) =>
    `$O.${bucket}.M.${Buffer.from(name, "utf8").toString("base64").replace(/\+/g, "-").replace(/\//g, "_")}`;

  const read = async (subject: string): Promise<ArchiveMeta | null> => {
    const message = await jsm.streams.getMessage(stream, { last_by_subj: subject }).catch(notFoundAsNull);
    return message ? toMeta(message.json<RawMeta>(), message.seq) : null;
  };
  const write = async (raw: RawMeta, revision: number, opts: { ttlMs?: number } = {}) => {
    const h = headers();
    // the new metadata replaces the old one (a roll-up of its subject)
    h.set("Nats-Rollup", "sub");
    h.set("Nats-Expected-Last-Subject-Sequence", String(revision));
    if (opts.ttlMs) h.set("Nats-TTL", ttlHeader(opts.ttlMs));
    try {
      await js.publish(metaSubject(raw.name), JSON.stringify(raw), { headers: h });
      return true;
    } catch (err) {
      if (isKvConflict(err)) return false;
      throw err;
    }
  };
  return {
    async list() {
      const filter = `$O.${bucket}.M.>`;
      const info = await jsm.streams.info(stream, { subjects_filter: filter });
      const metas = await Promise.all(Object.keys(info.state.subjects ?? {}).map(read));
      return metas.filter((meta): meta is ArchiveMeta => meta !== null);
    },
    async markUsed(name, at, metadata = {}) {
      for (;;) {
        const meta = await read(metaSubject(name));
        if (!meta || meta.deleted) return false;
        const raw = { ...meta.raw, metadata: { ...meta.raw.metadata, ...metadata, [USED_AT_KEY]: at.toISOString() } };
        if (await write(raw, meta.revision)) return true;
      }
    },
    async deleteIfUnchanged(meta) {
      const raw = { ...meta.raw, deleted: true, size: 0, chunks: 0, digest: "" };
      if (!(await write(raw, meta.revision, { ttlMs: opts.markerTtlMs }))) return false;
      await purge(jsm, stream, `$O.${bucket}.C.${meta.raw.nuid}`);
      return true;
    },
    async purgeChunks(meta) {
      await purge(jsm, stream, `$O.${bucket}.C.${meta.raw.nuid}`);
    },
  };
}

function toMeta(raw: RawMeta, revision: number): ArchiveMeta {
  const usedAt = Date.parse(raw.metadata?.[USED_AT_KEY] ?? raw.mtime);
  return { name: raw.name, deleted: raw.deleted === true, revision, usedAt: Number.isNaN(usedAt) ? 0 : usedAt, raw };
}

async function purge(jsm: JetStreamManager, stream: string, filter: string): Promise<void> {
  await jsm.streams.purge(stream, { filter });
}

function notFoundAsNull(err: unknown): null {
  if (isNotFound(err) || /no message found/i.test(String(err))) return null;
  throw err;
}
