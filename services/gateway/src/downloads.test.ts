/** Signed model and artifact downloads, against real NATS (object store) and FerretDB. */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { ApiError } from "@trainyard/contracts";
import { signDownloadPath, type ObjectStore } from "@trainyard/runtime";
import { DOWNLOAD_SECRET, startHarness, type Harness } from "./testing/harness.js";

let h: Harness;

before(async () => {
  h = await startHarness();
});

after(async () => {
  await h?.close();
});

describe("downloads", () => {
  let artifacts: ObjectStore;
  const jobId = randomUUID();
  const model = Buffer.from(Array.from({ length: 3000 }, (_, i) => i % 251));
  const in1h = () => new Date(Date.now() + 3600_000);

  before(async () => {
    artifacts = h.bus.artifacts;
    await artifacts.putBlob({ name: `${jobId}/best.pt` }, model);
    await artifacts.putBlob({ name: `${jobId}/results.csv` }, Buffer.from("epoch,mAP50\n1,0.5\n"));
  });

  const fetchPath = (path: string) => fetch(`${h.url}${path}`);

  test("a signed model URL returns the stored bytes without the API token", async () => {
    const res = await fetchPath(signDownloadPath(DOWNLOAD_SECRET, `/models/${jobId}.pt`, in1h()));
    assert.equal(res.status, 200, `expected 200 for a signed model URL, got ${res.status}`);
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), model, "expected the exact bytes of best.pt");
    assert.equal(res.headers.get("content-type"), "application/octet-stream");
    assert.equal(res.headers.get("content-disposition"), `attachment; filename="${jobId}.pt"`);
  });

  test("a signed artifact URL returns the file with its content type", async () => {
    const res = await fetchPath(signDownloadPath(DOWNLOAD_SECRET, `/artifacts/${jobId}/results.csv`, in1h()));
    assert.equal(res.status, 200, `expected 200 for a signed artifact URL, got ${res.status}`);
    assert.equal(await res.text(), "epoch,mAP50\n1,0.5\n");
    assert.match(res.headers.get("content-type") ?? "", /^text\/csv/);
  });

  test("unsigned, forged, foreign-key, re-pathed and expired URLs are 403", async () => {
    const path = `/models/${jobId}.pt`;
    const signed = signDownloadPath(DOWNLOAD_SECRET, path, in1h());
    const signature = new URL(signed, h.url).searchParams.get("signature") ?? "";
    const forged = signed.replace(/signature=.*/, `signature=${signature.split("").reverse().join("")}`);
    const otherJob = randomUUID();
    const cases: Array<[string, string]> = [
      ["unsigned", path],
      ["forged", forged],
      ["signed with another key", signDownloadPath("another-download-secret-0123", path, in1h())],
      ["signed for another job", signed.replace(jobId, otherJob)],
      ["another file with the model's signature", signed.replace(".pt?", ".pt/x?")],
      ["expired", signDownloadPath(DOWNLOAD_SECRET, path, new Date(Date.now() - 1000))],
    ];
    for (const [what, url] of cases) {
      const res = await fetchPath(url);
      if (what === "another file with the model's signature") {
        assert.notEqual(res.status, 200, `expected ${what} not to be served`);
        continue;
      }
      assert.equal(res.status, 403, `expected 403 for a ${what} URL, got ${res.status}`);
      assert.equal(ApiError.parse(await res.json()).code, "UNAUTHORIZED");
    }
  });

  test("a signed URL for an object that does not exist is 404", async () => {
    const res = await fetchPath(signDownloadPath(DOWNLOAD_SECRET, `/artifacts/${jobId}/missing.png`, in1h()));
    assert.equal(res.status, 404, `expected 404 for a missing artifact, got ${res.status}`);
  });

  test("a dot file name is never served, even when signed", async () => {
    const res = await fetchPath(signDownloadPath(DOWNLOAD_SECRET, `/artifacts/${jobId}/.hidden`, in1h()));
    assert.equal(res.status, 404, `expected 404 for a dot file, got ${res.status}`);
  });
});
