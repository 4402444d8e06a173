import { extname, posix } from "node:path";
import type { DatasetInfo, DatasetSplits } from "@trainyard/contracts";
import { forEachLimit } from "./concurrency.js";
import { isAbsolutePath, parseDataYaml, type DataYaml, type Split } from "./data-yaml.js";
import { DatasetError } from "./dataset-error.js";
import type { DatasetTree } from "./dataset-tree.js";
import { IMAGE_EXTENSIONS } from "./image-header.js";
import { checkLabels } from "./label-lines.js";

/** Ultralytics drops images whose sides are not over 9 pixels as corrupt. */
const MIN_IMAGE_SIDE = 10;
/**
 * The largest image accepted: 8192 px a side and 50 megapixels. A decoder holds the whole bitmap
 * (a 20000x20000 RGB image is 1.2 GB) and Ultralytics caches and mosaics them, so one such image
 * is a trainer's memory gone. Beyond this the dataset is refused, lenient validation or not.
 */
export const MAX_IMAGE_SIDE = 8192;
export const MAX_IMAGE_PIXELS = 50_000_000;
/** Problems listed in full in an error's details or in the warnings; the rest are counted. */
const LISTED_PROBLEMS = 50;
const CHECKERS = 16;
/** Where Ultralytics users put each split when data.yaml does not say: classic, then Roboflow's layout. */
const CONVENTIONAL: Record<"train" | "val", string[]> = {
  train: ["images/train", "train/images"],
  val: ["images/val", "images/valid", "val/images", "valid/images"],
};
const FIX_THEM =
  "Ultralytics would skip these images during training, so the job was stopped. Fix them and upload the archive again:";

export interface ValidationOptions {
  /** The request's `expected_structure`: paths that must exist (true) or may be missing (false). */
  expectedStructure?: Record<string, boolean>;
  /**
   * Accept images and label files that Ultralytics would skip (malformed lines, classes out of
   * range, undecodable images) as warnings instead of failing; they are left out of the counts.
   */
  lenient?: boolean;
}

export interface ValidatedDataset {
  /** The folder holding data.yaml: the tree's root ("") or its single top-level folder. */
  root: string;
  /** Image folders of each split, relative to `root`. */
  splits: DatasetSplits;
  info: DatasetInfo;
  /** Problems accepted in lenient mode, one line each (empty otherwise). */
  warnings: string[];
}

interface Problem {
  file: string;
  /** `<file> line N: what is wrong` or `<file> is what is wrong`. */
  text: string;
}

interface ImageCheck {
  split: Split;
  classes: number[];
  hasLabels: boolean;
  /** Non-empty means Ultralytics would skip this image. */
  problems: Problem[];
}

/**
 * Checks a YOLO dataset the way Ultralytics will read it, and counts it. Problems that make
 * training impossible throw DATASET_INVALID naming the first one; problems Ultralytics would
 * only skip with a warning (bad label lines, undecodable images) throw too, listing the files,
 * unless `lenient` turns them into warnings.
 */
export async function validateYoloDataset(
  tree: DatasetTree,
  options: ValidationOptions = {},
): Promise<ValidatedDataset> {
  const rootPath = await findDatasetRoot(tree);
  const root = within(tree, rootPath);
  const text = await root.text("data.yaml");
  if (text === null) throw invalid("Missing data.yaml file in dataset");
  const yaml = parseDataYaml(text);
  const splits: DatasetSplits = {
    train: await resolveSplit(root, yaml, "train"),
    val: await resolveSplit(root, yaml, "val"),
    ...(yaml.splits.test ? { test: await resolveSplit(root, yaml, "test") } : {}),
  };
  await requireStructure(root, splits, options.expectedStructure ?? {});

  const images: Array<{ split: Split; path: string }> = [];
  for (const split of ["train", "val", "test"] as const) {
    const found: string[] = [];
    for (const folder of splits[split] ?? []) found.push(...(await imagesUnder(root, folder)));
    if (found.length === 0 && split !== "test") {
      throw invalid(`No images in ${splits[split].join(", ")} (expected ${[...IMAGE_EXTENSIONS].join(", ")} files)`);
    }
    images.push(...found.map((path) => ({ split, path })));
  }
  const checks = new Array<ImageCheck>(images.length);
  await forEachLimit(images, CHECKERS, async (image, i) => {
    checks[i] = await checkImage(root, image.split, image.path, yaml.names.length);
  });
  return summarise(rootPath, splits, yaml.names, checks, options.lenient ?? false);
}

function summarise(
  root: string,
  splits: DatasetSplits,
  names: string[],
  checks: ImageCheck[],
  lenient: boolean,
): ValidatedDataset {
  const problems = checks.flatMap((c) => c.problems);
  if (problems.length > 0 && !lenient) {
    const files = new Set(problems.map((p) => p.file)).size;
    const more = problems.length > 1 ? ` (${problems.length} problems in ${files} files in all)` : "";
    const first = problems[0]!;
    const what = first.file.endsWith(".txt") ? `Invalid label in ${first.text}` : `Invalid image: ${first.text}`;
    throw invalid(`${what}${more}`, `${FIX_THEM}\n${listed(problems).join("\n")}`);
  }
  const counts = new Array<number>(names.length).fill(0);
  const images = { train: 0, val: 0 };
  for (const split of ["train", "val"] as const) {
    const kept = checks.filter((c) => c.split === split && c.problems.length === 0);
    if (kept.length === 0)
      throw invalid(`No usable images left in ${splits[split].join(", ")}: every one has a problem`);
    if (!checks.some((c) => c.split === split && c.hasLabels)) {
      const folder = splits[split][0]!;
      const example = labelPathFor(`${folder}/a.jpg`) ?? "a labels folder beside the images";
      throw invalid(
        `No label files found for the images in ${folder}`,
        `Each image needs a label file at the same place under labels/ instead of images/ (for ${folder}/a.jpg: ${example}), with one "class x_center y_center width height" line per object. Images without one count as background.`,
      );
    }
    images[split] = kept.length;
    for (const check of kept) for (const cls of check.classes) counts[cls] = (counts[cls] ?? 0) + 1;
  }
  const skipped = checks.filter((c) => c.problems.length > 0).length;
  return {
    root,
    splits,
    info: {
      total_images: images.train + images.val,
      train_images: images.train,
      val_images: images.val,
      classes: names,
      class_distribution: Object.fromEntries(names.map((name, i) => [name, counts[i] ?? 0])),
    },
    warnings: problems.length ? [...listed(problems), `${skipped} images will be skipped by the trainer`] : [],
  };
}

function listed(problems: Problem[]): string[] {
  const head = problems.slice(0, LISTED_PROBLEMS).map((p) => p.text);
  return problems.length > LISTED_PROBLEMS ? [...head, `... and ${problems.length - LISTED_PROBLEMS} more`] : head;
}

async function checkImage(root: DatasetTree, split: Split, image: string, classCount: number): Promise<ImageCheck> {
  const problems: Problem[] = [];
  const header = await root.imageHeader(image);
  if (header.ok && tooLarge(header)) {
    throw invalid(
      `Invalid image: ${image} is ${header.width}x${header.height} pixels, over the limit of ${MAX_IMAGE_SIDE} px a side and ${MAX_IMAGE_PIXELS / 1e6} megapixels`,
      "Resize it (the training resizes every image to image_size anyway) and upload the dataset again.",
    );
  }
  if (!header.ok) problems.push({ file: image, text: `${image} ${header.problem}` });
  else if (header.width < MIN_IMAGE_SIDE || header.height < MIN_IMAGE_SIDE) {
    const size = `${header.width}x${header.height}`;
    problems.push({ file: image, text: `${image} is ${size} pixels; images need at least 10x10` });
  }
  const labelPath = labelPathFor(image);
  const summary = labelPath === null ? null : await root.labels(labelPath);
  if (labelPath === null || summary === null) return { split, classes: [], hasLabels: false, problems };
  const labels = checkLabels(summary, classCount);
  const more = summary.problemCount - summary.problems.length;
  problems.push(...labels.problems.map((p) => ({ file: labelPath, text: `${labelPath} ${p}` })));
  if (more > 0) problems.push({ file: labelPath, text: `${labelPath} has ${more} more malformed lines` });
  return { split, classes: labels.classes, hasLabels: true, problems };
}

function tooLarge({ width, height }: { width: number; height: number }): boolean {
  return width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE || width * height > MAX_IMAGE_PIXELS;
}

/** Ultralytics' rule: the label of `.../images/x.jpg` is `.../labels/x.txt` (last `images` segment). */
export function labelPathFor(image: string): string | null {
  const slashed = `/${image}`;
  const at = slashed.lastIndexOf("/images/");
  if (at < 0) return null;
  const swapped = `${slashed.slice(0, at)}/labels/${slashed.slice(at + "/images/".length)}`;
  return `${swapped.slice(1).replace(/\.[^./]*$/, "")}.txt`;
}

/** The folder holding data.yaml: the root, or its one top-level folder (beside macOS metadata). */
async function findDatasetRoot(tree: DatasetTree): Promise<string> {
  if ((await tree.kind("data.yaml")) === "file") return "";
  const entries = (await tree.children("")).filter((e) => !isNoise(e.name));
  const only = entries.length === 1 ? entries[0] : undefined;
  if (only?.kind === "directory" && (await tree.kind(`${only.name}/data.yaml`)) === "file") return only.name;
  throw invalid(
    "Missing data.yaml file in dataset",
    "The dataset archive does not contain a valid data.yaml configuration file. Please ensure your dataset follows the YOLO format.",
  );
}

/** A split's image folders, relative to root: as data.yaml says, or by convention when it says nothing. */
async function resolveSplit(root: DatasetTree, yaml: DataYaml, split: Split): Promise<string[]> {
  const declared = yaml.splits[split];
  const conventional = CONVENTIONAL[split as "train" | "val"] ?? [`images/${split}`];
  if (!declared) {
    for (const folder of conventional) if ((await root.kind(folder)) === "directory") return [folder];
    throw invalid(`data.yaml has no ${split}: entry and the archive has no images/${split} folder`);
  }
  // `path:` is where the author kept the dataset; it counts only when it names a folder inside the archive
  const base = yaml.path ? posix.normalize(slashed(yaml.path)) : ".";
  const from = inside(base) && (await root.kind(base)) === "directory" ? base : ".";
  const resolved: string[] = [];
  for (const folder of declared) {
    const hint = `use a path relative to data.yaml, e.g. ${split}: ${conventional[0]}`;
    if (isAbsolutePath(folder)) {
      throw invalid(`data.yaml ${split}: ${folder} is an absolute path on the machine that made the archive; ${hint}`);
    }
    // Roboflow writes `../train/images`; Ultralytics retries such a path without its `../`
    const candidates = [posix.join(from, slashed(folder))];
    if (folder.startsWith("../")) candidates.push(posix.join(from, slashed(folder.slice(3))));
    let found: string | undefined;
    for (const candidate of candidates.filter(inside)) {
      const kind = await root.kind(candidate);
      if (kind === "file" && candidate.endsWith(".txt")) {
        throw invalid(`data.yaml ${split}: ${folder} is an image list file; point ${split} at a folder of images`);
      }
      if (kind === "directory") {
        found = candidate;
        break;
      }
    }
    if (!found) throw invalid(`data.yaml ${split}: ${folder} is not a folder in the archive; ${hint}`);
    resolved.push(found);
  }
  return resolved;
}

/** `expected_structure` from the request; the classic folder names also match their Roboflow equivalents. */
async function requireStructure(root: DatasetTree, splits: DatasetSplits, expected: Record<string, boolean>) {
  for (const [key, required] of Object.entries(expected)) {
    if (!required) continue;
    const path = posix.normalize(slashed(key).replace(/\/+$/, ""));
    if (!inside(path) || isAbsolutePath(key)) {
      throw invalid(`expected_structure entry ${JSON.stringify(key)} is not a path inside the dataset`);
    }
    if ((await root.kind(path)) !== null) continue;
    const classic = /^(images|labels)\/(train|val|valid|test)$/.exec(path);
    const split = classic?.[2] === "valid" ? "val" : (classic?.[2] as Split | undefined);
    const folders = split ? splits[split] : undefined;
    if (classic && folders) {
      if (classic[1] === "images") continue;
      let found = false;
      for (const folder of folders) {
        const labels = labelPathFor(`${folder}/x.jpg`)?.replace(/\/x\.txt$/, "");
        if (labels !== undefined && (await root.kind(labels)) === "directory") found = true;
      }
      if (found) continue;
    }
    throw invalid(`Missing ${path} in dataset (required by expected_structure)`);
  }
}

async function imagesUnder(root: DatasetTree, folder: string): Promise<string[]> {
  return (await root.filesUnder(folder)).filter(
    (path) => IMAGE_EXTENSIONS.has(extname(path).toLowerCase()) && !path.split("/").some(isNoise),
  );
}

/** The subtree at `folder`, with paths relative to it. */
function within(tree: DatasetTree, folder: string): DatasetTree {
  if (!folder) return tree;
  const at = (path: string) => posix.join(folder, path);
  const strip = (path: string) => path.slice(folder.length + 1);
  return {
    kind: (path) => tree.kind(at(path)),
    children: (path) => tree.children(at(path)),
    filesUnder: async (path) => (await tree.filesUnder(at(path))).map(strip),
    text: (path) => tree.text(at(path)),
    labels: (path) => tree.labels(at(path)),
    imageHeader: (path) => tree.imageHeader(at(path)),
  };
}

function invalid(message: string, details?: string): DatasetError {
  return new DatasetError("DATASET_INVALID", message, details);
}

function slashed(path: string): string {
  return path.trim().replace(/\\/g, "/");
}

function inside(path: string): boolean {
  return path !== ".." && !path.startsWith("../") && !path.startsWith("/");
}

function isNoise(name: string): boolean {
  return name.startsWith(".") || name === "__MACOSX";
}
