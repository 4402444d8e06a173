import { join, resolve, sep } from "node:path";

/** Image folders of each split, relative to the dataset root, `/`-separated. */
export interface SplitFolders {
  train: readonly string[];
  val: readonly string[];
  test?: readonly string[] | undefined;
}

/** The layout every archive accepted before split folders were recorded had to follow. */
export const CLASSIC_SPLITS: SplitFolders = { train: ["images/train"], val: ["images/val"] };

/**
 * The data.yaml the trainer reads, as a plain object to serialise: `path` and every split folder
 * absolute under `root`, the validated class names, and nothing else. Every other key is dropped,
 * `download:` above all: Ultralytics runs it as a script or fetches it as a URL.
 */
export function normalisedDataYaml(
  root: string,
  splits: SplitFolders,
  names: readonly string[],
): Record<string, unknown> {
  const base = resolve(root);
  const absolute = (folders: readonly string[], split: string) => {
    const paths = folders.map((folder) => {
      const path = join(base, ...folder.split("/"));
      if (path !== base && !path.startsWith(base + sep)) {
        throw new Error(`${split} folder ${JSON.stringify(folder)} is outside the dataset`);
      }
      return path;
    });
    return paths.length === 1 ? paths[0] : paths;
  };
  return {
    path: base,
    train: absolute(splits.train, "train"),
    val: absolute(splits.val, "val"),
    ...(splits.test?.length ? { test: absolute(splits.test, "test") } : {}),
    nc: names.length,
    names: [...names],
  };
}
