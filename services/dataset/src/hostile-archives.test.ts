import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { gzipSync } from "node:zlib";
import { ArchiveError, extractZip, type ZipLimits } from "@trainyard/runtime";
import { assertNothingLeft, failureOf, firstDelivery, intakeHarness } from "./testing/intake-harness.js";
import { trainRequested } from "./testing/train-request.js";
import { datasetZip, png, sampleDataset } from "./testing/yolo-fixture.js";
import { rawZip, type RawEntry } from "./testing/zip-writer.js";
import { intakeDataset } from "./dataset-intake.js";

const scratch = await mkdtemp(join(tmpdir(), "hostile-archives-"));
after(() => rm(scratch, { recursive: true, force: true }));

const ABSOLUTE_TARGET = join(tmpdir(), `trainyard-absolute-${process.pid}.txt`);
const valid = datasetZip(sampleDataset());
/** A dataset's entries with `extra` added: the refusal must come from `extra`, not from the dataset. */
const dataset = (...extra: RawEntry[]): RawEntry[] => [
  ...Object.entries(sampleDataset()).map(([name, data]) => ({ name, data })),
  ...extra,
];
const SMALL_LIMITS: ZipLimits = { maxEntries: 20, maxTotalBytes: 512 * 1024, maxRatio: 200 };

interface Case {
  name: string;
  archive: Buffer;
  code: "DATASET_CORRUPTED" | "DATASET_INVALID";
  message: RegExp;
  limits?: ZipLimits;
  /** A readable archive that is not a YOLO dataset: only validation refuses it, extraction does not. */
  yolo?: true;
}

const cases: Case[] = [
  // not zip archives at all
  {
    name: "a text file",
    archive: Buffer.from("this is not a zip archive\n".repeat(10)),
    code: "DATASET_CORRUPTED",
    message: /not a zip archive/,
  },
  { name: "an empty file", archive: Buffer.alloc(0), code: "DATASET_CORRUPTED", message: /not a zip archive/ },
  { name: "a PNG named .zip", archive: png(), code: "DATASET_CORRUPTED", message: /not a zip archive/ },
  { name: "a gzip file", archive: gzipSync(valid), code: "DATASET_CORRUPTED", message: /not a zip archive/ },
  // truncated and damaged
  {
    name: "the first half of an archive",
    archive: valid.subarray(0, valid.length >> 1),
    code: "DATASET_CORRUPTED",
    message: /truncated/,
  },
  {
    name: "an archive with bytes cut from its middle",
    archive: Buffer.concat([valid.subarray(0, 100), valid.subarray(400)]),
    code: "DATASET_CORRUPTED",
    message: /truncated|disagrees|central directory/,
  },
  {
    name: "an archive behind a self-extractor stub",
    // concatenated without adjusting the offsets, as `cat stub archive.zip` makes it
    archive: Buffer.concat([Buffer.from("MZ stub".repeat(20)), rawZip(dataset())]),
    code: "DATASET_CORRUPTED",
    message: /central directory/,
  },
  {
    name: "an end record that lists more entries than the directory holds",
    archive: rawZip(dataset(), { entryCount: 9 }),
    code: "DATASET_CORRUPTED",
    message: /central directory/,
  },
  {
    name: "a deflated entry with a wrong CRC",
    archive: rawZip(dataset({ name: "x.txt", data: "hello", crc: 1 })),
    code: "DATASET_CORRUPTED",
    message: /x\.txt" fails its CRC-32 check/,
  },
  {
    name: "a large stored entry with a wrong CRC (streamed path)",
    archive: rawZip(dataset({ name: "big.bin", data: randomBytes(3 * 1024 * 1024), method: 0, crc: 7 })),
    code: "DATASET_CORRUPTED",
    message: /big\.bin" fails its CRC-32 check/,
  },
  {
    name: "an entry that inflates past its declared size",
    archive: rawZip(dataset({ name: "liar.txt", data: "x".repeat(5000), declaredSize: 100 })),
    code: "DATASET_CORRUPTED",
    message: /liar\.txt" inflates past its declared 100 bytes/,
  },
  {
    name: "an entry shorter than its declared size",
    archive: rawZip(dataset({ name: "short.txt", data: "x".repeat(50), declaredSize: 5000 })),
    code: "DATASET_CORRUPTED",
    message: /short\.txt" inflates to 50 bytes, but the archive says 5000/,
  },
  {
    name: "a local header naming another file than the central directory",
    archive: rawZip(dataset({ name: "a.txt", data: "x", localName: "b.txt" })),
    code: "DATASET_CORRUPTED",
    message: /disagrees with the central directory \(file name\)/,
  },
  {
    name: "a folder entry with content",
    archive: rawZip(dataset({ name: "folder/", data: "content", method: 0 })),
    code: "DATASET_CORRUPTED",
    message: /folder entry "folder\/" has content/,
  },
  // zip bombs
  {
    name: "a high-ratio bomb",
    archive: rawZip(dataset({ name: "zeros.bin", data: Buffer.alloc(16 * 1024 * 1024) })),
    code: "DATASET_CORRUPTED",
    message: /zeros\.bin" would inflate \d+ bytes to 16777216 .*zip bomb/,
  },
  {
    name: "overlapping entries (a non-recursive bomb)",
    archive: rawZip(dataset({ name: "outer.bin", quoteNext: true }, { name: "inner.bin", data: "payload", method: 0 })),
    code: "DATASET_CORRUPTED",
    message: /"outer\.bin" and "inner\.bin" overlap/,
  },
  {
    name: "more bytes than the extraction limit",
    archive: rawZip(
      dataset({ name: "a.bin", data: randomBytes(300_000) }, { name: "b.bin", data: randomBytes(300_000) }),
    ),
    limits: SMALL_LIMITS,
    code: "DATASET_CORRUPTED",
    message: /would inflate to \d+ bytes, over the limit of 524288 bytes/,
  },
  {
    name: "more entries than the limit",
    archive: rawZip(dataset(...Array.from({ length: 20 }, (_, i) => ({ name: `many/${i}.txt`, data: "." })))),
    limits: SMALL_LIMITS,
    code: "DATASET_CORRUPTED",
    message: /lists 27 entries, over the limit of 20/,
  },
  // paths that leave the extraction folder
  {
    name: "a ../ traversal",
    archive: rawZip(dataset({ name: "../../escaped.txt", data: "owned" })),
    code: "DATASET_INVALID",
    message: /'\.\.' segment/,
  },
  {
    name: "a traversal hidden mid-path",
    archive: rawZip(dataset({ name: "images/../../../escaped.txt", data: "owned" })),
    code: "DATASET_INVALID",
    message: /'\.\.' segment/,
  },
  {
    name: "a backslash traversal",
    archive: rawZip(dataset({ name: "..\\..\\escaped.txt", data: "owned" })),
    code: "DATASET_INVALID",
    message: /'\.\.' segment/,
  },
  {
    name: "an absolute path",
    archive: rawZip(dataset({ name: ABSOLUTE_TARGET, data: "owned" })),
    code: "DATASET_INVALID",
    message: /absolute path/,
  },
  {
    name: "a Windows drive path",
    archive: rawZip(dataset({ name: "C:\\Windows\\evil.txt", data: "x" })),
    code: "DATASET_INVALID",
    message: /absolute path/,
  },
  {
    name: "a UNC path",
    archive: rawZip(dataset({ name: "\\\\server\\share\\evil.txt", data: "x" })),
    code: "DATASET_INVALID",
    message: /absolute path/,
  },
  {
    name: "a NUL byte in a name",
    archive: rawZip(dataset({ name: "images/a\u0000.png", data: "x" })),
    code: "DATASET_INVALID",
    message: /control character/,
  },
  // entries that are not plain files
  {
    name: "a symbolic link",
    archive: rawZip(dataset({ name: "link", data: "/etc/passwd", mode: 0o120777 })),
    code: "DATASET_INVALID",
    message: /"link" is a symbolic link/,
  },
  {
    name: "a named pipe",
    archive: rawZip(dataset({ name: "fifo", data: "", mode: 0o010644 })),
    code: "DATASET_INVALID",
    message: /device, pipe or socket/,
  },
  // encryption and compression methods
  {
    name: "a password-protected entry",
    archive: rawZip(dataset({ name: "secret.txt", data: "x", flags: 0x0801 })),
    code: "DATASET_INVALID",
    message: /is encrypted: create the archive without a password/,
  },
  {
    name: "an AES-encrypted entry",
    archive: rawZip(dataset({ name: "aes.txt", data: "x", method: 99 })),
    code: "DATASET_INVALID",
    message: /is encrypted/,
  },
  {
    name: "an LZMA entry",
    archive: rawZip(dataset({ name: "l.txt", data: "x", method: 14 })),
    code: "DATASET_INVALID",
    message: /compressed with LZMA/,
  },
  {
    name: "a bzip2 entry",
    archive: rawZip(dataset({ name: "b.txt", data: "x", method: 12 })),
    code: "DATASET_INVALID",
    message: /compressed with bzip2/,
  },
  {
    name: "an unknown method",
    archive: rawZip(dataset({ name: "u.txt", data: "x", method: 77 })),
    code: "DATASET_INVALID",
    message: /compressed with method 77/,
  },
  // duplicates
  {
    name: "the same name twice",
    archive: rawZip([...dataset(), { name: "data.yaml", data: "names: [evil]\n" }]),
    code: "DATASET_INVALID",
    message: /holds "data\.yaml" twice/,
  },
  {
    name: "names that differ only in case",
    archive: rawZip(dataset({ name: "IMAGES/train/A.png", data: png() })),
    code: "DATASET_INVALID",
    message: /"IMAGES\/train\/A\.png" and "images\/train\/a\.png"/,
  },
  {
    name: "names that differ only in Unicode normalisation",
    archive: rawZip(dataset({ name: "caf\u00e9.txt", data: "1" }, { name: "cafe\u0301.txt", data: "2" })),
    code: "DATASET_INVALID",
    message: /name the same path/,
  },
  {
    name: "a file where a folder must be",
    archive: rawZip([{ name: "images", data: "file" }, ...dataset()]),
    code: "DATASET_INVALID",
    message: /name the same path/,
  },
  {
    name: "a split (multi-part) archive",
    archive: rawZip(dataset(), { disk: 1 }),
    code: "DATASET_INVALID",
    message: /split \(multi-part\)/,
  },
  // readable archives that are not YOLO datasets
  {
    name: "no data.yaml",
    archive: datasetZip({ "readme.txt": "hi" }),
    code: "DATASET_INVALID",
    message: /^Missing data\.yaml file in dataset$/,
    yolo: true,
  },
  {
    name: "labels with classes out of range",
    archive: datasetZip({ ...sampleDataset(), "labels/val/c.txt": "5 0.5 0.5 0.1 0.1\n" }),
    code: "DATASET_INVALID",
    message: /labels\/val\/c\.txt line 1: class 5 is out of range/,
    yolo: true,
  },
];

describe("hostile and broken archives: refused with the right code, nothing written outside the job folder", () => {
  it(`the corpus holds at least 25 hostile or broken archives (${cases.length})`, () => {
    assert.ok(cases.length >= 25);
  });

  for (const c of cases) {
    it(`refuses ${c.name} with ${c.code}`, async () => {
      const h = await intakeHarness(scratch, c.archive, c.limits ? { limits: c.limits } : {});
      const outcome = await intakeDataset(
        trainRequested("https://storage.example.com/d.zip?token=t"),
        firstDelivery,
        h.deps,
      );
      assert.deepEqual(outcome, { kind: "ack" }, "a refused archive is final, not retried");
      const error = failureOf(h);
      assert.equal(error.code, c.code, `expected ${c.code}, got ${error.code}: ${error.message}`);
      assert.match(error.message, c.message);
      assert.equal(error.phase, "dataset_validation");
      assert.ok(error.details.length > 40, "details say what to fix");
      assert.equal(h.store.puts, 0, "a refused archive is never stored");
      await assertNothingLeft(h);
      assert.equal(existsSync(ABSOLUTE_TARGET), false, "the absolute path was not written");
    });
  }

  // agents extract the same archives with the same guard: it must refuse them alike
  for (const c of cases.filter((c) => !c.yolo)) {
    it(`extractZip refuses ${c.name} with ${c.code}, writing nothing outside its folder`, async () => {
      const sandbox = await mkdtemp(join(scratch, "extract-"));
      const zip = join(sandbox, "dataset.zip");
      await writeFile(zip, c.archive);
      const dest = join(sandbox, "job", "dataset");
      await assert.rejects(extractZip(zip, dest, c.limits), (err: unknown) => {
        assert.ok(err instanceof ArchiveError, `expected an ArchiveError, got ${String(err)}`);
        assert.equal(err.code, c.code, `expected ${c.code}, got ${err.code}: ${err.message}`);
        assert.match(err.message, c.message);
        return true;
      });
      // the folder may hold what was written before a late refusal (a bad CRC); the agent removes it
      const left = (await readdir(sandbox)).filter((name) => name !== "dataset.zip");
      assert.ok(
        left.length === 0 || (left.length === 1 && left[0] === "job"),
        `left beside the job: ${left.join(", ")}`,
      );
      if (left.length) assert.deepEqual(await readdir(join(sandbox, "job")), ["dataset"]);
      assert.equal(existsSync(ABSOLUTE_TARGET), false, "the absolute path was not written");
    });
  }

  it("stops inflating a bomb before writing anything when its declared size gives it away", async () => {
    // 64 MiB of zeros deflate to ~64 KiB: refused from the central directory alone, in milliseconds
    const bomb = rawZip(dataset({ name: "zeros.bin", data: Buffer.alloc(64 * 1024 * 1024) }));
    const h = await intakeHarness(scratch, bomb);
    const started = Date.now();
    await intakeDataset(trainRequested("https://storage.example.com/d.zip"), firstDelivery, h.deps);
    assert.equal(failureOf(h).code, "DATASET_CORRUPTED");
    assert.ok(Date.now() - started < 5_000, "refused without inflating 64 MiB");
  });
});
