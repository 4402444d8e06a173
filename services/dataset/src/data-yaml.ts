import { parseDocument } from "yaml";
import { DatasetError } from "./dataset-error.js";

export const SPLITS = ["train", "val", "test"] as const;
export type Split = (typeof SPLITS)[number];

/** What data.yaml declares, before any of it is checked against the files. */
export interface DataYaml {
  names: string[];
  /** Each split's folders as written; absent when the key is missing or empty. */
  splits: Partial<Record<Split, string[]>>;
  /** `path:` when it is a relative path (an absolute one points at the author's machine). */
  path?: string;
}

const MAX_CLASSES = 10_000;

/** Parses data.yaml; throws DATASET_INVALID naming the line of a syntax error or the key at fault. */
export function parseDataYaml(text: string): DataYaml {
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  const error = doc.errors[0];
  if (error) {
    const line = error.linePos?.[0]?.line;
    const reason = error.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "");
    throw invalid(`data.yaml is not valid YAML${line ? ` (line ${line})` : ""}: ${reason}`);
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw invalid(`data.yaml cannot be read: ${(err as Error).message}`);
  }
  if (!isRecord(value)) throw invalid("data.yaml must be a mapping with names, train and val entries");
  const splits: DataYaml["splits"] = {};
  for (const split of SPLITS) {
    const folders = splitFolders(value[split], split);
    if (folders) splits[split] = folders;
  }
  const path =
    typeof value.path === "string" && value.path.trim() && !isAbsolutePath(value.path) ? value.path : undefined;
  return { names: classNames(value.names, value.nc), splits, ...(path ? { path } : {}) };
}

/** True for POSIX, Windows drive and UNC absolute paths alike. */
export function isAbsolutePath(path: string): boolean {
  return /^([/\\]|[A-Za-z]:)/.test(path.trim());
}

function splitFolders(raw: unknown, split: Split): string[] | undefined {
  if (raw === undefined || raw === null || raw === "") return undefined;
  const list = Array.isArray(raw) ? raw : [raw];
  if (list.length === 0) return undefined;
  return list.map((item) => {
    if (typeof item !== "string" || !item.trim()) {
      throw invalid(`data.yaml ${split}: must be a folder path or a list of folder paths`);
    }
    return item.trim();
  });
}

/** Ultralytics accepts `names` as a list or as an `{index: name}` mapping; `nc` alone names classes class0... */
function classNames(raw: unknown, nc: unknown): string[] {
  if (nc !== undefined && (!Number.isInteger(nc) || (nc as number) < 1)) {
    throw invalid(`data.yaml nc: ${JSON.stringify(nc)} is not a positive whole number`);
  }
  let names: unknown[];
  if (Array.isArray(raw)) {
    names = raw;
  } else if (isRecord(raw)) {
    const keys = Object.keys(raw);
    if (keys.some((k) => !/^\d+$/.test(k) || Number(k) >= keys.length)) {
      throw invalid("data.yaml names mapping must use the class indices 0..n-1 as keys");
    }
    names = keys.map((_, i) => raw[String(i)]);
  } else if (raw === undefined && nc !== undefined) {
    names = Array.from({ length: Math.min(nc as number, MAX_CLASSES + 1) }, (_, i) => `class${i}`);
  } else {
    throw invalid("data.yaml has no names list", "Add the class names to data.yaml, e.g. names: [cat, dog].");
  }
  if (names.length === 0) throw invalid("data.yaml lists no class names");
  if (names.length > MAX_CLASSES) throw invalid(`data.yaml lists more than ${MAX_CLASSES} classes`);
  if (nc !== undefined && nc !== names.length) {
    throw invalid(`data.yaml declares nc: ${JSON.stringify(nc)} but lists ${names.length} class names`);
  }
  const seen = new Set<string>();
  return names.map((name, i) => {
    if (typeof name !== "string" && typeof name !== "number") throw invalid(`data.yaml class ${i} has no name`);
    const text = String(name).trim();
    if (!text) throw invalid(`data.yaml class ${i} has an empty name`);
    if (seen.has(text)) throw invalid(`data.yaml lists class name ${JSON.stringify(text)} twice`);
    seen.add(text);
    return text;
  });
}

function invalid(message: string, details?: string): DatasetError {
  return new DatasetError("DATASET_INVALID", message, details);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
