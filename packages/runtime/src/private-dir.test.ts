import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { ConfigError } from "./env.js";
import { ensurePrivateDir } from "./private-dir.js";

const root = await mkdtemp(join(tmpdir(), "private-dir-"));
after(() => rm(root, { recursive: true, force: true }));
const modeOf = async (path: string) => (await stat(path)).mode & 0o777;

test("a work folder is made, or narrowed, to 0700", async () => {
  await ensurePrivateDir(join(root, "new", "work"), "AGENT_WORK_DIR");
  assert.equal(await modeOf(join(root, "new", "work")), 0o700);
  const open = join(root, "open");
  await mkdir(open, { mode: 0o777 });
  await ensurePrivateDir(open, "AGENT_WORK_DIR");
  assert.equal(await modeOf(open), 0o700);
});

test("a work folder another user owns is a configuration error naming the setting", async () => {
  const theirs = join(root, "theirs");
  await mkdir(theirs, { mode: 0o755 });
  const other = (process.getuid?.() ?? 0) + 1;
  await assert.rejects(
    ensurePrivateDir(theirs, "DATASET_WORK_DIR", other),
    (err: unknown) =>
      err instanceof ConfigError && /DATASET_WORK_DIR .* belongs to uid \d+, not to this service/.test(err.message),
  );
  assert.equal(await modeOf(theirs), 0o755 & ~process.umask(), "left as it was");
});
