import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { CheckpointUploads, UploadRate, uploadDue } from "./checkpoint-uploads.js";

describe("uploadDue", () => {
  it("is always due before the agent has measured an upload, and with share 1", () => {
    assert.equal(uploadDue({ share: 0.01, sinceLastMs: 0, expectedMs: null }), true);
    assert.equal(uploadDue({ share: 1, sinceLastMs: 0, expectedMs: 5_000 }), true);
  });

  it("waits (1 - share) / share times the expected upload", () => {
    assert.equal(uploadDue({ share: 0.01, sinceLastMs: 98_999, expectedMs: 1_000 }), false);
    assert.equal(uploadDue({ share: 0.01, sinceLastMs: 99_000, expectedMs: 1_000 }), true);
    assert.equal(uploadDue({ share: 0.5, sinceLastMs: 999, expectedMs: 1_000 }), false);
    assert.equal(uploadDue({ share: 0.5, sinceLastMs: 1_000, expectedMs: 1_000 }), true);
  });

  it("keeps uploads under the share of a long run, whatever the epoch and upload times", () => {
    for (const share of [0.01, 0.05, 0.2]) {
      for (const epochMs of [500, 3_000, 60_000]) {
        for (const uploadMs of [100, 700, 5_000]) {
          // a run of 10 000 epochs where each upload takes uploadMs (after the first, which measures)
          let sinceLast = 0;
          let uploading = 0;
          let uploads = 0;
          const epochs = 10_000;
          for (let epoch = 1; epoch <= epochs; epoch++) {
            sinceLast += epochMs;
            if (uploadDue({ share, sinceLastMs: sinceLast, expectedMs: uploads === 0 ? null : uploadMs })) {
              uploads++;
              uploading += uploadMs;
              sinceLast = 0;
            }
          }
          const training = epochs * epochMs;
          const label = `share ${share}, epoch ${epochMs} ms, upload ${uploadMs} ms`;
          // every upload but the first needs (1 - share) / share uploads' worth of training before it
          assert.ok(uploading - uploadMs <= (share / (1 - share)) * training, `${label}: ${uploading} ms uploading`);
          // and the gap between uploads is one epoch at most beyond that (the bound on lost training)
          const gapEpochs = Math.ceil(((1 - share) / share) * (uploadMs / epochMs));
          assert.ok(uploads >= Math.floor(epochs / Math.max(gapEpochs, 1)), `${label}: only ${uploads} uploads`);
        }
      }
    }
  });
});

describe("UploadRate", () => {
  it("expects nothing until measured, then scales the last upload's speed by size", () => {
    const rate = new UploadRate();
    assert.equal(rate.expectedMs(1_000_000), null);
    rate.record(2_000_000, 400);
    assert.equal(rate.expectedMs(1_000_000), 200);
    rate.record(2_000_000, 800);
    assert.equal(rate.expectedMs(3_000_000), 1_200, "the newest measurement wins");
  });
});

describe("CheckpointUploads", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "checkpoint-uploads-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** Writes the trainer's checkpoint of `epoch` as the trainer does: a whole file renamed over the path. */
  async function publish(name: string, epoch: number): Promise<string> {
    const path = join(dir, name);
    await writeFile(`${path}.partial`, `weights of epoch ${epoch}`);
    await rename(`${path}.partial`, path);
    return path;
  }

  /** A run whose uploads record what they sent and take `uploadMs` on a hand-driven clock. */
  function run(share: number, rate = new UploadRate(), uploadMs = 1_000) {
    const clock = { now: 0 };
    const sent: string[] = [];
    let release: (() => void) | null = null;
    let hold = false;
    let fail: Error | null = null;
    const uploads = new CheckpointUploads({
      share,
      rate,
      ensureCurrent: async () => {},
      upload: async (path) => {
        if (hold) await new Promise<void>((resolve) => (release = resolve));
        if (fail) throw fail;
        const content = await readFile(path, "utf8");
        sent.push(content);
        clock.now += uploadMs;
        return 1_000_000;
      },
      sizeOf: async () => 1_000_000,
      now: () => clock.now,
    });
    return {
      uploads,
      clock,
      sent,
      holdUploads: () => (hold = true),
      releaseUpload: () => {
        hold = false;
        release?.();
      },
      failUploads: (error: Error) => (fail = error),
    };
  }

  it("uploads a checkpoint only once its epoch was reported", async () => {
    const { uploads, sent } = run(1);
    const path = await publish("a.pt", 1);
    await uploads.offer({ path, epoch: 1 });
    await uploads.settle();
    assert.deepEqual(sent, [], "epoch 1 not reported yet");
    await uploads.reported(1);
    await uploads.settle();
    assert.deepEqual(sent, ["weights of epoch 1"]);
    assert.equal(uploads.uploaded, 1);
  });

  it("with share 1, uploads every epoch", async () => {
    const { uploads, sent, clock } = run(1);
    for (let epoch = 1; epoch <= 3; epoch++) {
      clock.now += 10_000;
      await uploads.offer({ path: await publish("b.pt", epoch), epoch });
      await uploads.reported(epoch);
      await uploads.settle();
    }
    assert.deepEqual(sent, ["weights of epoch 1", "weights of epoch 2", "weights of epoch 3"]);
  });

  it("paces uploads by the measured cost: at 10 %, one every 9 uploads' worth of training", async () => {
    // the agent measured 1 000 ms per checkpoint on an earlier job; epochs take 2 000 ms
    const rate = new UploadRate();
    rate.record(1_000_000, 1_000);
    const { uploads, sent, clock } = run(0.1, rate);
    uploads.trainingStarted();
    for (let epoch = 1; epoch <= 12; epoch++) {
      clock.now += 2_000;
      await uploads.offer({ path: await publish("c.pt", epoch), epoch });
      await uploads.reported(epoch);
      await uploads.settle();
    }
    // due after 9 000 ms of training: epochs 5 (10 000 ms) and 10 (5 × 2 000 ms after the upload ended)
    assert.deepEqual(sent, ["weights of epoch 5", "weights of epoch 10"]);
    assert.equal(uploads.uploaded, 10);
  });

  it("flush uploads the newest reported checkpoint whatever the pace, once", async () => {
    const rate = new UploadRate();
    rate.record(1_000_000, 1_000);
    const { uploads, sent, clock } = run(0.01, rate);
    for (let epoch = 1; epoch <= 3; epoch++) {
      clock.now += 2_000;
      await uploads.offer({ path: await publish("d.pt", epoch), epoch });
      await uploads.reported(epoch);
    }
    assert.deepEqual(sent, [], "not due at 1 %");
    await uploads.flush();
    await uploads.flush();
    assert.deepEqual(sent, ["weights of epoch 3"]);
    assert.equal(uploads.uploaded, 3);
  });

  it("flush never sends a checkpoint whose epoch the app was not told of", async () => {
    const { uploads, sent } = run(0.01);
    await uploads.offer({ path: await publish("h.pt", 1), epoch: 1 }); // saved, then the trainer died
    await uploads.flush();
    assert.deepEqual(sent, []);
    assert.equal(uploads.uploaded, 0);
  });

  it("sends the epoch it decided on, even when the trainer replaces the file during the upload", async () => {
    const { uploads, sent, holdUploads, releaseUpload } = run(1);
    holdUploads();
    await uploads.offer({ path: await publish("e.pt", 1), epoch: 1 });
    await uploads.reported(1);
    await publish("e.pt", 2); // the next epoch's checkpoint lands while the upload waits
    releaseUpload();
    await uploads.settle();
    assert.deepEqual(sent, ["weights of epoch 1"]);
    assert.deepEqual(
      (await readdir(dir)).filter((name) => name.startsWith(".upload-")),
      [],
      "the pinned copy is removed after its upload",
    );
  });

  it("uploads in the background, one at a time, and keeps the newest for later", async () => {
    const { uploads, sent, holdUploads, releaseUpload } = run(1);
    holdUploads();
    await uploads.offer({ path: await publish("f.pt", 1), epoch: 1 });
    await uploads.reported(1); // returns while the upload waits
    await uploads.offer({ path: await publish("f.pt", 2), epoch: 2 });
    await uploads.reported(2); // one upload in flight: epoch 2 waits
    releaseUpload();
    await uploads.settle();
    assert.deepEqual(sent, ["weights of epoch 1"]);
    await uploads.flush();
    assert.deepEqual(sent, ["weights of epoch 1", "weights of epoch 2"]);
  });

  it("once the training is over, the last epoch's checkpoint follows the upload in flight", async () => {
    const { uploads, sent, holdUploads, releaseUpload } = run(1);
    holdUploads();
    await uploads.offer({ path: await publish("i.pt", 1), epoch: 1 });
    await uploads.reported(1);
    await uploads.offer({ path: await publish("i.pt", 2), epoch: 2 });
    await uploads.reported(2); // the last epoch, while epoch 1's upload is in flight
    await uploads.trainingEnded();
    releaseUpload();
    await uploads.settle();
    assert.deepEqual(sent, ["weights of epoch 1", "weights of epoch 2"]);
    assert.equal(uploads.uploaded, 2);
  });

  it("a failed background upload surfaces at the next step", async () => {
    const { uploads, failUploads } = run(1);
    failUploads(new Error("NATS timeout"));
    await uploads.offer({ path: await publish("g.pt", 1), epoch: 1 });
    await uploads.reported(1);
    await assert.rejects(uploads.settle(), /NATS timeout/);
    await assert.rejects(uploads.offer({ path: await publish("g.pt", 2), epoch: 2 }), /NATS timeout/);
  });
});
