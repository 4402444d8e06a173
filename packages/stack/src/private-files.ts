import { chmodSync, existsSync, mkdirSync, writeFileSync } from "node:fs";

/** Makes `dir` (and its parents) exist and `dir` itself its owner's alone (0700), even when it existed. */
export function privateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
}

/**
 * Writes `text` to `file`, readable by its owner alone (0600) even when the file existed with a
 * wider mode: narrowed before the new text is written, so the secret is never in an open file.
 */
export function writePrivateFile(file: string, text: string): void {
  if (existsSync(file)) chmodSync(file, 0o600);
  writeFileSync(file, text, { mode: 0o600 });
}
