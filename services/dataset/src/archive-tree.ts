import { extname } from "node:path";
import { inspectZip, type ZipLimits } from "@trainyard/runtime";
import { MAX_TEXT_BYTES, tooLarge, type DatasetTree, type EntryKind } from "./dataset-tree.js";
import { IMAGE_EXTENSIONS, imageHeaderFrom, type ImageHeader } from "./image-header.js";
import { summariseLabels, type LabelSummary } from "./label-lines.js";

/** Bytes of a large image kept to find its header (the whole of a small one is seen anyway). */
const IMAGE_HEAD_BYTES = 1024 ** 2;
const YAML_EXTENSIONS = new Set([".yaml", ".yml"]);

/**
 * A DatasetTree over a zip archive that is inspected by the zip guard (every refusal, every
 * entry inflated and CRC-checked) but never extracted: what validation needs of each file (image
 * headers, label summaries, data.yaml) is taken as it is inflated, and nothing reaches the disk.
 */
export class ArchiveTree implements DatasetTree {
  private readonly files = new Map<string, number>();
  private readonly folders = new Set<string>([""]);
  private readonly yaml = new Map<string, string | null>();
  private readonly summaries = new Map<string, LabelSummary | null>();
  private readonly headers = new Map<string, ImageHeader>();
  private childrenOf: Map<string, Map<string, EntryKind>> | null = null;

  /** Inspects `zipFile`; throws the zip guard's ArchiveError when it is refused. */
  static async inspect(zipFile: string, limits?: ZipLimits, signal?: AbortSignal): Promise<ArchiveTree> {
    const tree = new ArchiveTree();
    const inspected = await inspectZip(zipFile, limits, {
      ...(signal ? { signal } : {}),
      keep: (path) => {
        const extension = extname(path).toLowerCase();
        if (IMAGE_EXTENSIONS.has(extension)) return IMAGE_HEAD_BYTES;
        return extension === ".txt" || YAML_EXTENSIONS.has(extension) ? MAX_TEXT_BYTES : 0;
      },
      onFile: (path, content, complete) => tree.see(path, content, complete),
    });
    for (const file of inspected.files) tree.files.set(file.path, file.size);
    for (const folder of inspected.directories) tree.folders.add(folder);
    return tree;
  }

  private see(path: string, content: Buffer, complete: boolean): void {
    const extension = extname(path).toLowerCase();
    if (IMAGE_EXTENSIONS.has(extension)) this.headers.set(path, imageHeaderFrom(content, complete));
    else if (extension === ".txt")
      this.summaries.set(path, complete ? summariseLabels(content.toString("utf8")) : null);
    else if (YAML_EXTENSIONS.has(extension)) this.yaml.set(path, complete ? content.toString("utf8") : null);
  }

  async kind(path: string): Promise<EntryKind | null> {
    const key = normal(path);
    return this.folders.has(key) ? "directory" : this.files.has(key) ? "file" : null;
  }

  async children(folder: string): Promise<Array<{ name: string; kind: EntryKind }>> {
    this.childrenOf ??= this.index();
    return [...(this.childrenOf.get(normal(folder)) ?? new Map<string, EntryKind>())].map(([name, kind]) => ({
      name,
      kind,
    }));
  }

  async filesUnder(folder: string): Promise<string[]> {
    const key = normal(folder);
    const prefix = key ? `${key}/` : "";
    return [...this.files.keys()].filter((path) => path.startsWith(prefix)).sort();
  }

  async text(path: string): Promise<string | null> {
    const key = normal(path);
    if (!this.files.has(key)) return null;
    const text = this.yaml.get(key);
    if (text === undefined || text === null) throw tooLarge(key);
    return text;
  }

  async labels(path: string): Promise<LabelSummary | null> {
    const key = normal(path);
    if (!this.files.has(key)) return null;
    const summary = this.summaries.get(key);
    if (!summary) throw tooLarge(key);
    return summary;
  }

  async imageHeader(path: string): Promise<ImageHeader> {
    return this.headers.get(normal(path)) ?? { ok: false, problem: "is not in the archive" };
  }

  private index(): Map<string, Map<string, EntryKind>> {
    const index = new Map<string, Map<string, EntryKind>>();
    const add = (path: string, kind: EntryKind) => {
      const at = path.lastIndexOf("/");
      const parent = at < 0 ? "" : path.slice(0, at);
      if (!index.has(parent)) index.set(parent, new Map());
      index.get(parent)!.set(path.slice(at + 1), kind);
    };
    for (const folder of this.folders) if (folder) add(folder, "directory");
    for (const file of this.files.keys()) add(file, "file");
    return index;
  }
}

function normal(path: string): string {
  return path
    .split("/")
    .filter((s) => s && s !== ".")
    .join("/");
}
