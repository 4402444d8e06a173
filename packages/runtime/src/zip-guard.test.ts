import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { crc32, deflateRawSync } from "node:zlib";
import { buildZip, type ZipEntry } from "@trainyard/stack";
import { ArchiveError, entrySegments, entryTarget, extractZip, inspectZip, type ZipLimits } from "./zip-guard.js";

/**
 * A one-entry archive whose data is deflated: buildZip stores, so its method, CRC and size
 * fields are patched (local header at 0, central directory where the end record says).
 */
function deflatedZip(name: string, content: Buffer, lie: { crc?: number; size?: number } = {}): Buffer {
  const zip = buildZip([{ name, data: deflateRawSync(content) }]);
  const central = zip.readUInt32LE(zip.length - 6);
  for (const [method, crc, size] of [
    [8, 14, 22],
    [central + 10, central + 16, central + 24],
  ] as const) {
    zip.writeUInt16LE(8, method);
    zip.writeUInt32LE(lie.crc ?? crc32(content), crc);
    zip.writeUInt32LE(lie.size ?? content.length, size);
  }
  return zip;
}

// ---- tests ----

let root: string;
let counter = 0;

before(async () => {
  root = await mkdtemp(join(tmpdir(), "trainyard-zip-guard-"));
});

after(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A fresh `<case>/` folder holding `archive.zip` and an empty-to-be `out/dest` target. */
async function caseWith(entries: ZipEntry[] | Buffer): Promise<{ zip: string; dest: string; caseDir: string }> {
  const caseDir = join(root, `case-${++counter}`);
  const zip = join(caseDir, "archive.zip");
  await mkdir(caseDir, { recursive: true });
  await writeFile(zip, Buffer.isBuffer(entries) ? entries : buildZip(entries));
  return { zip, dest: join(caseDir, "out", "dest"), caseDir };
}

async function rejectsWith(promise: Promise<unknown>, code: ArchiveError["code"], what: string): Promise<ArchiveError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof ArchiveError, `expected an ArchiveError for ${what}, got ${String(err)}`);
    assert.equal(err.code, code, `expected ${code} for ${what}, got ${err.code}: ${err.message}`);
    return err;
  }
  assert.fail(`expected ${what} to be rejected with ${code}, but it was accepted`);
}

const SMALL: ZipLimits = { maxEntries: 10, maxTotalBytes: 64, maxRatio: 200 };

describe("entryTarget", () => {
  const dest = "/srv/datasets/job";

  for (const bad of [
    "../a",
    "/abs",
    "a/../../b",
    "a/../b.txt",
    "C:\\x",
    "c:/x",
    "..\\..\\evil",
    "\\\\unc\\x",
    "a/\0b",
    "a\nb",
  ]) {
    test(`rejects ${JSON.stringify(bad)} as DATASET_INVALID`, () => {
      assert.throws(
        () => entryTarget(dest, bad),
        (err: unknown) => err instanceof ArchiveError && err.code === "DATASET_INVALID",
        `expected ${JSON.stringify(bad)} to be refused with DATASET_INVALID`,
      );
    });
  }

  test('accepts "a/b.txt" as a path inside the destination', () => {
    assert.equal(entryTarget(dest, "a/b.txt"), resolve(dest, "a", "b.txt"));
  });

  test("drops empty and '.' segments, treating backslashes as separators", () => {
    assert.deepEqual(entrySegments("./a//b\\c.txt"), ["a", "b", "c.txt"]);
    assert.deepEqual(entrySegments("dir/"), ["dir"]);
  });

  test("refuses absurd depth and name lengths", () => {
    assert.throws(() => entrySegments("a/".repeat(70) + "x"), /nested too deep/);
    assert.throws(() => entrySegments(`${"n".repeat(300)}.txt`), /longer than 255 bytes/);
  });

  test("does not accept a sibling folder that shares the destination's prefix", () => {
    assert.throws(() => entryTarget(dest, "../job-other/x"), ArchiveError, "expected ../job-other/x to be refused");
  });
});

describe("extractZip", () => {
  test("extracts a normal archive with nested folders and a directory entry", async () => {
    const { zip, dest } = await caseWith([
      { name: "data.yaml", data: "names: [shape]\n" },
      { name: "images/" },
      { name: "images/train/a.jpg", data: Buffer.from([0xff, 0xd8, 0xff, 0xe0]) },
      { name: "labels/train/a.txt", data: "0 0.5 0.5 0.1 0.1\n" },
    ]);
    const extracted = await extractZip(zip, dest);
    assert.deepEqual(extracted, { files: 3, directories: 4, bytes: 15 + 4 + 18 });
    assert.equal(await readFile(join(dest, "data.yaml"), "utf8"), "names: [shape]\n");
    assert.deepEqual(await readFile(join(dest, "images/train/a.jpg")), Buffer.from([0xff, 0xd8, 0xff, 0xe0]));
    assert.equal(await readFile(join(dest, "labels/train/a.txt"), "utf8"), "0 0.5 0.5 0.1 0.1\n");
  });

  test("rejects a traversal entry with DATASET_INVALID and writes nothing, inside or outside", async () => {
    const { zip, dest, caseDir } = await caseWith([
      { name: "ok.txt", data: "fine" },
      { name: "../escape.txt", data: "owned" },
      { name: "../../escape2.txt", data: "owned" },
    ]);
    const err = await rejectsWith(extractZip(zip, dest), "DATASET_INVALID", "an entry ../escape.txt");
    assert.match(err.message, /escapes/, "expected the message to say the entry escapes the folder");
    assert.equal(err.entry, "../escape.txt");
    assert.equal(existsSync(join(caseDir, "out", "escape.txt")), false, "expected nothing written outside dest");
    assert.equal(existsSync(join(caseDir, "escape2.txt")), false, "expected nothing written two levels up");
    assert.equal(existsSync(dest), false, "expected nothing extracted before the check failed");
  });

  test("rejects an absolute entry with DATASET_INVALID", async () => {
    const { zip, dest } = await caseWith([{ name: "/tmp/trainyard-abs-entry.txt", data: "x" }]);
    await rejectsWith(extractZip(zip, dest), "DATASET_INVALID", "an absolute entry");
  });

  test("rejects a symbolic link entry with DATASET_INVALID and writes nothing", async () => {
    const { zip, dest } = await caseWith([
      { name: "data.yaml", data: "names: [a]\n" },
      { name: "images", data: "/etc", mode: 0o120777 },
    ]);
    const err = await rejectsWith(extractZip(zip, dest), "DATASET_INVALID", "a symlink entry");
    assert.match(err.message, /symbolic link/, "expected the message to name the symbolic link");
    assert.equal(existsSync(dest), false, "expected the destination not to be created for a refused archive");
  });

  test("rejects garbage bytes with DATASET_CORRUPTED", async () => {
    const { zip, dest } = await caseWith(Buffer.from("this is not a zip archive at all, just some bytes".repeat(4)));
    await rejectsWith(extractZip(zip, dest), "DATASET_CORRUPTED", "a file of garbage bytes");
  });

  test("rejects a truncated archive with DATASET_CORRUPTED", async () => {
    const whole = buildZip([{ name: "data.yaml", data: "names: [a]\n".repeat(20) }]);
    const { zip, dest } = await caseWith(whole.subarray(0, 40));
    await rejectsWith(extractZip(zip, dest), "DATASET_CORRUPTED", "a truncated archive");
  });

  test("rejects an archive whose declared total size exceeds maxTotalBytes, before writing", async () => {
    const { zip, dest } = await caseWith([
      { name: "a.txt", data: "x".repeat(40) },
      { name: "b.txt", data: "y".repeat(40) },
    ]);
    const err = await rejectsWith(extractZip(zip, dest, SMALL), "DATASET_CORRUPTED", "80 bytes with a 64-byte limit");
    assert.match(err.message, /over the limit of 64 bytes/, "expected the message to name the limit");
    assert.equal(existsSync(dest), false, "expected nothing extracted when the declared size is over");
  });

  test("stops inflating an entry that outgrows its declared size", async () => {
    const { zip, dest } = await caseWith(deflatedZip("big.bin", Buffer.alloc(200_000, 7), { size: 10 }));
    const err = await rejectsWith(extractZip(zip, dest), "DATASET_CORRUPTED", "200000 bytes declared as 10");
    assert.match(err.message, /inflates past its declared 10 bytes/);
  });

  test("streams a large entry and checks its CRC-32 while inflating", async () => {
    const content = randomBytes(3 * 1024 * 1024);
    const good = await caseWith(deflatedZip("big.bin", content));
    assert.equal((await extractZip(good.zip, good.dest)).bytes, content.length);
    assert.deepEqual(await readFile(join(good.dest, "big.bin")), content);
    const bad = await caseWith(deflatedZip("big.bin", content, { crc: 1 }));
    const err = await rejectsWith(extractZip(bad.zip, bad.dest), "DATASET_CORRUPTED", "a wrong CRC");
    assert.match(err.message, /fails its CRC-32 check/);
  });

  test("refuses a stored entry whose sizes differ (a lying header)", async () => {
    const { zip, dest } = await caseWith([{ name: "big.bin", data: Buffer.alloc(200, 7), declaredSize: 10 }]);
    await rejectsWith(extractZip(zip, dest), "DATASET_CORRUPTED", "a stored entry with two sizes");
  });

  test("rejects more entries than maxEntries before reading them", async () => {
    const entries = Array.from({ length: 11 }, (_, i) => ({ name: `f${i}.txt`, data: "." }));
    const { zip, dest } = await caseWith(entries);
    const err = await rejectsWith(extractZip(zip, dest, SMALL), "DATASET_CORRUPTED", "11 entries with a limit of 10");
    assert.match(err.message, /lists 11 entries, over the limit of 10/, "expected the message to give the entry count");
  });

  test("rejects a compression ratio above maxRatio", async () => {
    const { zip, dest } = await caseWith(deflatedZip("bomb.bin", Buffer.alloc(4 * 1024 * 1024)));
    const err = await rejectsWith(extractZip(zip, dest), "DATASET_CORRUPTED", "a 1000:1 entry");
    assert.match(err.message, /ratio over 200/, "expected the message to give the limit");
  });

  test("extracts into a fresh folder only", async () => {
    const { zip, dest } = await caseWith([{ name: "a.txt", data: "a" }]);
    await mkdir(dest, { recursive: true });
    await assert.rejects(extractZip(zip, dest), /EEXIST/);
  });

  test("an entry under a path that is also a file is refused as an ArchiveError, not a raw fs error", async () => {
    // "a" is a file, then "a/b.txt" needs "a" to be a folder: the archive is unusable and the job
    // must fail with a dataset error; a raw ENOTDIR/EEXIST would make consumers retry it forever.
    const { zip, dest } = await caseWith([
      { name: "a", data: "file" },
      { name: "a/b.txt", data: "nested" },
    ]);
    try {
      await extractZip(zip, dest);
      assert.fail("expected an archive with a file/folder conflict to be refused");
    } catch (err) {
      assert.ok(
        err instanceof ArchiveError,
        `expected an ArchiveError (DATASET_INVALID or DATASET_CORRUPTED), got ${String(err)}`,
      );
    }
  });

  test("a duplicate entry name is refused before anything is written", async () => {
    const { zip, dest } = await caseWith([
      { name: "data.yaml", data: "one" },
      { name: "Data.YAML", data: "two" },
    ]);
    const err = await rejectsWith(extractZip(zip, dest), "DATASET_INVALID", "a case-folded duplicate");
    assert.match(err.message, /"Data\.YAML" and "data\.yaml", which name the same path/);
    assert.equal(existsSync(dest), false);
  });
});

describe("inspectZip", () => {
  test("stops before the next entry once its signal aborts, rejecting with the signal's reason", async () => {
    const entries = Array.from({ length: 20 }, (_, i) => ({ name: `images/${i}.txt`, data: `entry ${i}` }));
    const { zip } = await caseWith(entries);
    const cancel = new AbortController();
    const reason = new Error("the job was cancelled");
    const seen: string[] = [];
    await assert.rejects(
      inspectZip(zip, undefined, {
        signal: cancel.signal,
        onFile: (path) => {
          seen.push(path);
          if (seen.length === 3) cancel.abort(reason);
        },
      }),
      (err) => err === reason,
    );
    assert.deepEqual(seen, ["images/0.txt", "images/1.txt", "images/2.txt"], "no entry after the abort");

    const whole = await inspectZip(zip, undefined, { signal: new AbortController().signal });
    assert.equal(whole.files.length, 20, "a signal that never aborts changes nothing");
  });
});

describe("extractZip with a signal", () => {
  test("an aborted signal stops the extraction before its first entry, rejecting with the reason", async () => {
    const { zip, dest } = await caseWith([{ name: "a.txt", data: "a" }]);
    const reason = new Error("the job was cancelled");
    await assert.rejects(extractZip(zip, dest, undefined, AbortSignal.abort(reason)), (err) => err === reason);
    assert.equal(existsSync(join(dest, "a.txt")), false, "no entry was written");
  });
});
