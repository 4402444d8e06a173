import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ArchiveMeta } from "./adapters/archive-objects.js";
import { archivesToDelete } from "./archive-retention.js";

const archive = (name: string, usedAt: number, deleted = false): ArchiveMeta => ({
  name,
  deleted,
  revision: 1,
  usedAt,
  raw: { name, nuid: name, size: 1, chunks: 1, digest: "", mtime: "" },
});

describe("archivesToDelete", () => {
  const cutoff = 1_000;

  it("picks an archive that no queue entry names and no job used since the cutoff", () => {
    const archives = [
      archive("sha256/old.zip", 10),
      archive("sha256/fresh.zip", 1_000),
      archive("sha256/queued.zip", 10),
    ];
    assert.deepEqual(
      archivesToDelete(archives, new Set(["sha256/queued.zip"]), cutoff).map((a) => a.name),
      ["sha256/old.zip"],
      "the queued job's archive and the one used within the grace stay",
    );
  });

  it("keeps an archive two jobs share while either of them is still in the queue", () => {
    const shared = archive("sha256/shared.zip", 10);
    // the first job finished (it left the queue), the second still waits or runs
    assert.deepEqual(archivesToDelete([shared], new Set(["sha256/shared.zip"]), cutoff), []);
    // both finished
    assert.deepEqual(archivesToDelete([shared], new Set(), cutoff), [shared]);
  });

  it("keeps the archive of a job put back in the queue to resume elsewhere", () => {
    // a requeued job keeps its entry (attempt + 1, no placement): it still names its archive
    assert.deepEqual(archivesToDelete([archive("sha256/resume.zip", 10)], new Set(["sha256/resume.zip"]), cutoff), []);
  });

  it("leaves archives that are already deleted alone", () => {
    assert.deepEqual(archivesToDelete([archive("sha256/gone.zip", 10, true)], new Set(), cutoff), []);
  });
});
