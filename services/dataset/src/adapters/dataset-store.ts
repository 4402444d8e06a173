import { createReadStream } from "node:fs";
import { Readable } from "node:stream";
import { DatasetInfo, DatasetSplits } from "@trainyard/contracts";
import type { ObjectStore } from "@trainyard/runtime";
import { z } from "zod";
import { USED_AT_KEY, type ArchiveObjects } from "./archive-objects.js";

/**
 * Bumped whenever validation rules change, so archives validated by older rules are checked
 * again instead of trusted.
 */
export const VALIDATION_VERSION = 2;

/** What validating an archive established; kept with the stored archive so it is done once. */
export const ValidationRecord = z.object({
  version: z.number(),
  /** Folder inside the archive that holds data.yaml, "" for the archive root. */
  root: z.string(),
  splits: DatasetSplits,
  info: DatasetInfo,
  warnings: z.array(z.string()),
});
export type ValidationRecord = z.infer<typeof ValidationRecord>;

/** Validated archives, stored once by content digest where every agent can fetch them. */
export interface DatasetStore {
  /** The record of an archive validated (by the current rules) and stored earlier, or null. */
  findValidated(sha256: string): Promise<ValidationRecord | null>;
  /**
   * Stores the archive under its digest with its record unless it is there already, and records
   * that a job takes it into use now (the archive sweep spares an archive used within its grace);
   * returns the object name.
   */
  storeValidated(zipFile: string, sha256: string, record: ValidationRecord): Promise<string>;
}

const RECORD_KEY = "trainyard-validation";

/** The object an archive is stored as: its SHA-256, so the same archive is stored (and fetched by agents) once. */
export function datasetObjectName(sha256: string): string {
  return `sha256/${sha256}.zip`;
}

/**
 * A DatasetStore on a JetStream object store (bucket `datasets`); `archives` writes the metadata
 * of that same store conditionally.
 */
export function objectDatasetStore(store: ObjectStore, archives: Pick<ArchiveObjects, "markUsed">): DatasetStore {
  return {
    async findValidated(sha256) {
      const info = await store.info(datasetObjectName(sha256));
      if (!info || info.deleted || digestHex(info.digest) !== sha256) return null;
      const raw = info.metadata?.[RECORD_KEY];
      if (!raw) return null;
      const parsed = ValidationRecord.safeParse(safeJson(raw));
      return parsed.success && parsed.data.version === VALIDATION_VERSION ? parsed.data : null;
    },

    async storeValidated(zipFile, sha256, record) {
      const name = datasetObjectName(sha256);
      const usedAt = new Date();
      const metadata = { [RECORD_KEY]: JSON.stringify(record) };
      let existing = await store.info(name);
      while (existing && !existing.deleted) {
        if (digestHex(existing.digest) !== sha256) {
          throw new Error(`object ${name} holds digest ${digestHex(existing.digest)}, not its name's`);
        }
        if (await archives.markUsed(name, usedAt, metadata)) return name;
        // the archive sweep deleted it in between: store it again, unless another delivery just did
        existing = await store.info(name);
      }
      const body = Readable.toWeb(createReadStream(zipFile)) as ReadableStream<Uint8Array>;
      try {
        // create-only: when two deliveries race on one archive, the second put fails instead of
        // replacing (and purging) chunks an agent may be reading
        const meta = {
          name,
          description: "validated YOLO dataset archive",
          metadata: { ...metadata, [USED_AT_KEY]: usedAt.toISOString() },
        };
        const info = await store.put(meta, body, { previousRevision: existing?.revision ?? 0 });
        const stored = digestHex(info.digest);
        if (stored !== sha256) throw new Error(`object ${name} was stored with digest ${stored}, expected ${sha256}`);
      } catch (err) {
        const winner = await store.info(name);
        if (winner && !winner.deleted && digestHex(winner.digest) === sha256) return name;
        throw err;
      }
      return name;
    },
  };
}

function digestHex(digest: string): string {
  return Buffer.from(digest.replace(/^SHA-256=/, ""), "base64url").toString("hex");
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
