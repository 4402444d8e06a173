import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { ack, retryLater, type Outcome } from "@trainyard/runtime";
import { RunFailure } from "./job-results.js";
import { isDiskFullError, isFull, WORK_FOLDER_FULL, WorkDisk, type DiskSpace } from "./work-disk.js";

const MIB = 1024 ** 2;

describe("isDiskFullError", () => {
  test("Node's ENOSPC and EDQUOT, as an error code or in a message", () => {
    const enospc = Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
    assert.ok(isDiskFullError(enospc));
    assert.ok(isDiskFullError(Object.assign(new Error("quota"), { code: "EDQUOT" })));
    assert.ok(isDiskFullError(new Error("write failed", { cause: enospc })), "found through cause");
  });

  test("the trainer's own report: Python's Errno 28 and 122 in a failure's details", () => {
    const fromTrainer = new RunFailure(
      "UNKNOWN_ERROR",
      "training failed",
      "OSError: [Errno 28] No space left on device: '/work/job/run/weights/last.pt'",
      "training",
    );
    assert.ok(isDiskFullError(fromTrainer));
    assert.ok(isDiskFullError(new RunFailure("UNKNOWN_ERROR", "x", "[Errno 122] Disk quota exceeded", "training")));
  });

  test("PyTorch's checkpoint writer on a full disk, which names no errno", () => {
    for (const details of [
      "RuntimeError: PytorchStreamWriter failed writing file data/12: file write failed",
      "RuntimeError: [enforce fail at inline_container.cc:626] . unexpected pos 4288 vs 4176",
    ]) {
      assert.ok(isDiskFullError(new RunFailure("UNKNOWN_ERROR", "x", details, "training")), details);
    }
  });

  test("other failures are not a full disk", () => {
    assert.ok(
      !isDiskFullError(
        new RunFailure("UNKNOWN_ERROR", "trainer exited unexpectedly", "exit 1; log tail: ", "training"),
      ),
    );
    assert.ok(!isDiskFullError(Object.assign(new Error("ECONNRESET"), { code: "ECONNRESET" })));
    assert.ok(!isDiskFullError(new RunFailure("DATASET_INVALID", "no images", "labels/ missing", "preparing")));
    assert.ok(!isDiskFullError(null));
  });
});

test("isFull: below the minimum free bytes, or out of inodes", () => {
  assert.ok(isFull({ freeBytes: 10 * MIB, freeInodes: 100 }, 64 * MIB));
  assert.ok(isFull({ freeBytes: 1024 * MIB, freeInodes: 0 }, 64 * MIB));
  assert.ok(!isFull({ freeBytes: 1024 * MIB, freeInodes: null }, 64 * MIB));
  assert.ok(!isFull({ freeBytes: 64 * MIB, freeInodes: 5 }, 64 * MIB));
});

/** A WorkDisk over a free-space figure the test sets, with a clock it moves. */
function diskWith(freeMb: number) {
  const state = {
    space: { freeBytes: freeMb * MIB, freeInodes: 1000 } as DiskSpace,
    now: 1_000,
    changes: [] as boolean[],
  };
  const disk = new WorkDisk({
    readSpace: async () => state.space,
    minFreeBytes: 64 * MIB,
    now: () => state.now,
    onChange: (full) => state.changes.push(full),
  });
  return { disk, state, setFreeMb: (mb: number) => (state.space = { freeBytes: mb * MIB, freeInodes: 1000 }) };
}

describe("WorkDisk", () => {
  test("announces each change of state once, not every check", async () => {
    const { disk, state, setFreeMb } = diskWith(500);
    assert.equal(await disk.check(), false);
    setFreeMb(0);
    assert.equal(await disk.check(), true);
    assert.equal(await disk.check(), true);
    setFreeMb(500);
    assert.equal(await disk.check(), false);
    assert.deepEqual(state.changes, [true, false]);
  });

  test("a failed read of the free space keeps the last state", async () => {
    let fail = false;
    const disk = new WorkDisk({
      readSpace: async () => {
        if (fail) throw new Error("ENOENT");
        return { freeBytes: 0, freeInodes: null };
      },
      minFreeBytes: MIB,
      now: () => 0,
      onChange: () => {},
    });
    assert.equal(await disk.check(), true);
    fail = true;
    assert.equal(await disk.check(), true);
  });

  test("a run's failure is the disk's when the error says so, the folder is full now, or was since the run started", async () => {
    const { disk, state, setFreeMb } = diskWith(500);
    const startedAt = new Date(1_000);
    const silent = new RunFailure("UNKNOWN_ERROR", "trainer exited unexpectedly", "exit 1; log tail: ", "training");
    assert.equal(await disk.causedFailure(silent, startedAt), false, "room all along: the job's own failure");
    assert.equal(await disk.causedFailure(Object.assign(new Error("x"), { code: "ENOSPC" }), startedAt), true);
    assert.equal(disk.full, true, "an ENOSPC marks the folder full until a check finds room");
    state.now = 5_000;
    setFreeMb(0);
    await disk.check();
    setFreeMb(500);
    state.now = 9_000;
    assert.equal(await disk.causedFailure(silent, new Date(4_000)), true, "full at 5 s, during the run from 4 s");
    assert.equal(disk.full, false, "room again now");
    assert.equal(
      await disk.causedFailure(silent, new Date(6_000)),
      false,
      "full only before a run that started at 6 s",
    );
  });

  test("guard: hands an assignment back untouched while full, runs it once there is room, counts the disk's hand-backs", async () => {
    const { disk, setFreeMb } = diskWith(0);
    const run = { job_id: "job-1", attempt: 2 };
    let started = 0;
    const start = async (): Promise<Outcome> => {
      started++;
      return ack;
    };
    const notCancelled = async () => false;
    const first = await disk.guard(run, notCancelled, start);
    assert.deepEqual(first, retryLater(10_000, WORK_FOLDER_FULL));
    await disk.guard(run, notCancelled, start);
    assert.equal(started, 0, "nothing run while full");
    assert.equal(disk.handBacks(run), 2);
    assert.equal(disk.handBacks({ job_id: "job-1", attempt: 1 }), 0, "counted per run");
    setFreeMb(500);
    // the run itself hands back for the disk (it filled meanwhile): counted too
    assert.equal((await disk.guard(run, notCancelled, async () => retryLater(10_000, WORK_FOLDER_FULL))).kind, "retry");
    assert.equal(disk.handBacks(run), 3);
    // other hand-backs are not the disk's
    await disk.guard(run, notCancelled, async () => retryLater(5_000, "trainer crashed"));
    assert.equal(disk.handBacks(run), 3);
    assert.equal((await disk.guard(run, notCancelled, start)).kind, "ack");
    assert.equal(started, 1);
    assert.equal(disk.handBacks(run), 0, "forgotten once the run ended");
  });

  test("guard: a cancelled job is run while full, so its cancellation is reported", async () => {
    const { disk } = diskWith(0);
    let started = 0;
    const outcome = await disk.guard(
      { job_id: "job-2", attempt: 1 },
      async () => true,
      async () => {
        started++;
        return ack;
      },
    );
    assert.equal(outcome.kind, "ack");
    assert.equal(started, 1);
  });
});

describe("WorkDisk's hand-back ledger", () => {
  const notCancelled = async () => false;
  const neverRun = async (): Promise<Outcome> => assert.fail("nothing runs while the folder is full");
  const full = async () => ({ freeBytes: 0, freeInodes: 1000 });

  test("chaos seed 401: hand-backs for a full disk outlive a restart of the agent, so they never count as crashes", async () => {
    const dir = await mkdtemp(join(tmpdir(), "hand-backs-"));
    try {
      const ledgerFile = join(dir, ".disk-hand-backs.json");
      const options = { minFreeBytes: MIB, now: () => 0, onChange: () => {}, ledgerFile };
      const run = { job_id: "job-401", attempt: 1 };
      const before = new WorkDisk({ ...options, readSpace: full });
      await before.guard(run, notCancelled, neverRun);
      await before.guard(run, notCancelled, neverRun);
      assert.equal(before.handBacks(run), 2);
      // the agent is killed and started again: a new process reads what the last one counted
      const after = new WorkDisk({ ...options, readSpace: full });
      assert.equal(after.handBacks(run), 2);
      await after.guard(run, notCancelled, neverRun);
      const roomy = new WorkDisk({ ...options, readSpace: async () => ({ freeBytes: 100 * MIB, freeInodes: 1000 }) });
      assert.equal(roomy.handBacks(run), 3);
      await roomy.guard(run, notCancelled, async () => ack);
      assert.equal(new WorkDisk({ ...options, readSpace: full }).handBacks(run), 0, "a finished run leaves the ledger");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("a count the disk would not take is written once there is room", async () => {
    const dir = await mkdtemp(join(tmpdir(), "hand-backs-"));
    try {
      const ledgerFile = join(dir, "not-yet", "ledger.json"); // its folder is missing: every write fails
      let free = 0;
      const options = { minFreeBytes: MIB, now: () => 0, onChange: () => {}, ledgerFile };
      const disk = new WorkDisk({ ...options, readSpace: async () => ({ freeBytes: free, freeInodes: 1000 }) });
      const run = { job_id: "job-2", attempt: 1 };
      await disk.guard(run, notCancelled, neverRun);
      assert.equal(new WorkDisk({ ...options, readSpace: full }).handBacks(run), 0, "not written yet");
      await mkdir(join(dir, "not-yet"));
      free = 100 * MIB;
      await disk.check();
      assert.equal(
        new WorkDisk({ ...options, readSpace: full }).handBacks(run),
        1,
        "written at the next check with room",
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
