import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { privateDir, writePrivateFile } from "./private-files.js";

const root = mkdtempSync(join(tmpdir(), "private-files-"));
after(() => rmSync(root, { recursive: true, force: true }));
const modeOf = (path: string) => statSync(path).mode & 0o777;

test("a secret file left readable by others is 0600 once written again", () => {
  const file = join(root, "api-secret");
  writeFileSync(file, "old\n", { mode: 0o644 });
  assert.equal(modeOf(file), 0o644 & ~process.umask());
  writePrivateFile(file, "new-secret\n");
  assert.equal(modeOf(file), 0o600);
  assert.equal(readFileSync(file, "utf8"), "new-secret\n");
  writePrivateFile(join(root, "fresh"), "x");
  assert.equal(modeOf(join(root, "fresh")), 0o600);
});

test("a run folder that existed open to others is 0700 afterwards", () => {
  const dir = join(root, "run");
  mkdirSync(dir, { mode: 0o755 });
  privateDir(dir);
  assert.equal(modeOf(dir), 0o700);
  privateDir(join(root, "new", "run"));
  assert.equal(modeOf(join(root, "new", "run")), 0o700);
});
