import { readdir, readFile, stat } from "node:fs/promises";
import { extname, join, relative, resolve, sep } from "node:path";
import type { DatasetInfo } from "@trainyard/contracts";
import { parse as parseYaml } from "yaml";
import { DatasetError } from "./dataset-error.js";

/** Folders the trainer cannot work without, whatever `expected_structure` says (PRD 3.2). */
export const REQUIRED_FOLDERS = ["images/train", "images/val", "labels/train", "labels/val"] as const;

const IMAGE_EXTENSIONS = new Set([".jpg", ".jpeg", ".png", ".bmp", ".webp"]);
const SPLITS = ["train", "val"] as const;
/** data.yaml and label files are small text; a huge one is a mistake or an attack, not a dataset. */
const MAX_TEXT_BYTES = 16 * 1024 ** 2;

export interface ValidatedDataset {
  /** The folder holding data.yaml: the extraction folder or its single top-level folder. */
  root: string;
  info: DatasetInfo;
}

/**
 * Checks an extracted YOLO dataset and counts it. Throws DatasetError(DATASET_INVALID) naming
 * the first problem found; checks run in a fixed order so the same archive always gets the
 * same message.
 */
export async function validateYoloDataset(
  extractedDir: string,
  expectedStructure: Record<string, boolean> = {},
): Promise<ValidatedDataset> {
  const root = await findDatasetRoot(extractedDir);
  await requireStructure(root, expectedStructure);
  const classes = await readClassNames(root);
  const counts = new Array<number>(classes.length).fill(0);
  const images = { train: 0, val: 0 };
  for (const split of SPLITS) {
    images[split] = await countImages(root, split);
    for (const file of await filesUnder(join(root, "labels", split))) {
      if (extname(file).toLowerCase() === ".txt") await countLabels(root, file, classes.length, counts);
    }
  }
  return {
    root,
    info: {
      total_images: images.train + images.val,
      train_images: images.train,
      val_images: images.val,
      classes,
      class_distribution: Object.fromEntries(classes.map((name, i) => [name, counts[i] ?? 0])),
    },
  };
}

async function findDatasetRoot(dir: string): Promise<string> {
  if (await isFile(join(dir, "data.yaml"))) return dir;
  // Archives zipped from a folder hold that folder; macOS adds __MACOSX and dot files beside it.
  const entries = (await readdir(dir, { withFileTypes: true })).filter((e) => !isNoise(e.name));
  const only = entries.length === 1 ? entries[0] : undefined;
  if (only?.isDirectory() && (await isFile(join(dir, only.name, "data.yaml")))) return join(dir, only.name);
  throw invalid(
    "Missing data.yaml file in dataset",
    "The dataset archive does not contain a valid data.yaml configuration file. Please ensure your dataset follows the YOLO format.",
  );
}

async function requireStructure(root: string, expected: Record<string, boolean>): Promise<void> {
  const extra = Object.entries(expected)
    .filter(([, required]) => required)
    .map(([path]) => path.replace(/\\/g, "/").replace(/\/+$/, ""))
    .filter((path) => !(REQUIRED_FOLDERS as readonly string[]).includes(path));
  for (const path of REQUIRED_FOLDERS) {
    if (!(await isDirectory(join(root, path)))) throw invalid(`Missing ${path} folder in dataset`);
  }
  for (const path of extra) {
    const target = resolve(root, path);
    // The keys come from the request: never let one probe outside the dataset.
    if (!target.startsWith(resolve(root) + sep))
      throw invalid(`expected_structure entry ${JSON.stringify(path)} is not a path inside the dataset`);
    if (!(await exists(target))) throw invalid(`Missing ${path} in dataset (required by expected_structure)`);
  }
}

async function readClassNames(root: string): Promise<string[]> {
  const text = await readText(root, join(root, "data.yaml"));
  let doc: unknown;
  try {
    doc = parseYaml(text, { maxAliasCount: 100 });
  } catch (err) {
    throw invalid(`data.yaml is not valid YAML: ${(err as Error).message.split("\n")[0]}`);
  }
  if (!isRecord(doc)) throw invalid("data.yaml must be a mapping with a names entry");
  const names = classNames(doc.names);
  if (doc.nc !== undefined && doc.nc !== names.length) {
    throw invalid(`data.yaml declares nc: ${JSON.stringify(doc.nc)} but lists ${names.length} class names`);
  }
  return names;
}

/** Ultralytics accepts `names` as a list or as a `{index: name}` mapping with indices 0..n-1. */
function classNames(raw: unknown): string[] {
  let names: unknown[];
  if (Array.isArray(raw)) {
    names = raw;
  } else if (isRecord(raw)) {
    const keys = Object.keys(raw);
    names = keys.map((_, i) => raw[String(i)]);
    if (keys.some((k) => !/^\d+$/.test(k) || Number(k) >= keys.length)) {
      throw invalid("data.yaml names mapping must use the class indices 0..n-1 as keys");
    }
  } else {
    throw invalid("data.yaml has no names list");
  }
  if (names.length === 0) throw invalid("data.yaml lists no class names");
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

async function countImages(root: string, split: (typeof SPLITS)[number]): Promise<number> {
  const files = await filesUnder(join(root, "images", split));
  const count = files.filter((f) => IMAGE_EXTENSIONS.has(extname(f).toLowerCase())).length;
  if (count === 0) throw invalid(`No images in images/${split} (expected ${[...IMAGE_EXTENSIONS].join(", ")} files)`);
  return count;
}

/** Adds one label file's instances to `counts`, after checking every line. */
async function countLabels(root: string, file: string, classCount: number, counts: number[]): Promise<void> {
  const lines = (await readText(root, file)).split(/\r?\n/);
  lines.forEach((line, i) => {
    const fields = line.trim().split(/\s+/).filter(Boolean);
    if (fields.length === 0) return;
    const where = `${shownPath(root, file)} line ${i + 1}`;
    // A box is "class x y w h"; a segment is "class x1 y1 x2 y2 x3 y3 ...", which Ultralytics also takes.
    const isBox = fields.length === 5;
    const isSegment = fields.length >= 7 && fields.length % 2 === 1;
    if (!isBox && !isSegment)
      throw invalid(`Invalid label in ${where}: expected "class x y w h", got ${fields.length} values`);
    const cls = Number(fields[0]);
    if (!Number.isInteger(cls) || cls < 0)
      throw invalid(`Invalid label in ${where}: class ${JSON.stringify(fields[0])} is not a class index`);
    if (cls >= classCount) {
      throw invalid(`Invalid label in ${where}: class ${cls} is out of range (data.yaml lists ${classCount} classes)`);
    }
    for (const field of fields.slice(1)) {
      const value = Number(field);
      if (!Number.isFinite(value) || value < 0 || value > 1) {
        throw invalid(`Invalid label in ${where}: ${JSON.stringify(field)} is not a normalized coordinate in [0, 1]`);
      }
    }
    counts[cls] = (counts[cls] ?? 0) + 1;
  });
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && !isNoise(e.name))
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

async function readText(root: string, file: string): Promise<string> {
  if ((await stat(file)).size > MAX_TEXT_BYTES)
    throw invalid(`${shownPath(root, file)} is larger than ${MAX_TEXT_BYTES} bytes`);
  return readFile(file, "utf8");
}

function invalid(message: string, details?: string): DatasetError {
  return new DatasetError("DATASET_INVALID", message, details);
}

function shownPath(root: string, file: string): string {
  return relative(root, file).split(sep).join("/");
}

function isNoise(name: string): boolean {
  return name.startsWith(".") || name === "__MACOSX";
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

async function isFile(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isFile(),
    () => false,
  );
}

async function isDirectory(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isDirectory(),
    () => false,
  );
}
