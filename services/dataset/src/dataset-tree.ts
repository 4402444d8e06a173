import { open, readdir, stat } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import { DatasetError } from "./dataset-error.js";
import { readImageHeader, type ImageHeader } from "./image-header.js";
import { summariseLabels, type LabelSummary } from "./label-lines.js";

export type EntryKind = "file" | "directory";

/** data.yaml and label files are small text; a huge one is a mistake or an attack, not a dataset. */
export const MAX_TEXT_BYTES = 16 * 1024 ** 2;

/**
 * A dataset's files as validation sees them: a folder on disk, or an archive inspected without
 * extracting it. Paths are `/`-separated and relative to the tree's root ("" is the root).
 */
export interface DatasetTree {
  kind(path: string): Promise<EntryKind | null>;
  /** What a folder holds directly. */
  children(folder: string): Promise<Array<{ name: string; kind: EntryKind }>>;
  /** Every file anywhere under a folder, as paths from the root, sorted. */
  filesUnder(folder: string): Promise<string[]>;
  /** A small text file's content, or null when there is no such file. */
  text(path: string): Promise<string | null>;
  /** A label file read and summarised, or null when there is no such file. */
  labels(path: string): Promise<LabelSummary | null>;
  imageHeader(path: string): Promise<ImageHeader>;
}

/** A DatasetTree over a folder on disk. */
export function diskTree(dir: string): DatasetTree {
  const at = (path: string) => join(dir, ...path.split("/").filter((s) => s && s !== "."));
  const tree: DatasetTree = {
    async kind(path) {
      return stat(at(path)).then(
        (s) => (s.isDirectory() ? "directory" : s.isFile() ? "file" : null),
        () => null,
      );
    },
    async children(folder) {
      const entries = await readdir(at(folder), { withFileTypes: true });
      return entries
        .filter((e) => e.isFile() || e.isDirectory())
        .map((e) => ({ name: e.name, kind: e.isDirectory() ? ("directory" as const) : ("file" as const) }));
    },
    async filesUnder(folder) {
      const entries = await readdir(at(folder), { recursive: true, withFileTypes: true });
      return entries
        .filter((e) => e.isFile())
        .map((e) => relative(dir, join(e.parentPath, e.name)).split(sep).join("/"))
        .sort();
    },
    async text(path) {
      let fh;
      try {
        fh = await open(at(path), "r");
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === "ENOENT" || code === "ENOTDIR" || code === "EISDIR") return null;
        throw err;
      }
      try {
        if ((await fh.stat()).size > MAX_TEXT_BYTES) throw tooLarge(path);
        return await fh.readFile("utf8");
      } finally {
        await fh.close();
      }
    },
    async labels(path) {
      const text = await tree.text(path);
      return text === null ? null : summariseLabels(text);
    },
    imageHeader: (path) => readImageHeader(at(path)),
  };
  return tree;
}

export function tooLarge(path: string): DatasetError {
  return new DatasetError("DATASET_INVALID", `${path} is larger than ${MAX_TEXT_BYTES} bytes`);
}
