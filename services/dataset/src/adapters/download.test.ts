import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { guardedAgent } from "@trainyard/runtime";
import { DatasetError } from "../dataset-error.js";
import { downloadArchive, type DownloadOptions } from "./download.js";

const payload = Buffer.alloc(64 * 1024, 7);
const requests: string[] = [];
const routes: Record<string, (res: ServerResponse) => void> = {
  "/dataset.zip": (res) => res.writeHead(200, { "content-length": payload.length }).end(payload),
  "/hop": (res) => res.writeHead(302, { location: "dataset.zip?token=second" }).end(),
  "/loop": (res) => res.writeHead(307, { location: "/loop" }).end(),
  "/to-file": (res) => res.writeHead(302, { location: "file:///etc/passwd" }).end(),
  "/missing": (res) => res.writeHead(404).end("no such object"),
  "/busy": (res) => res.writeHead(503).end(),
  "/declared-huge": (res) => res.writeHead(200, { "content-length": 10 * 1024 ** 3 }).end(),
  "/chunked": (res) => {
    // no content-length: only counting while streaming can stop it
    res.writeHead(200);
    res.write(payload);
    res.end();
  },
  "/silent": () => {},
};

const server = createServer((req: IncomingMessage, res: ServerResponse) => {
  requests.push(req.url ?? "");
  const route = routes[new URL(req.url ?? "/", "http://x").pathname];
  if (route) route(res);
  else res.writeHead(404).end();
});
let base = "";
let dir = "";
const dispatcher = guardedAgent({ allowPrivate: true });

before(async () => {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  dir = await mkdtemp(join(tmpdir(), "download-"));
});
after(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await dispatcher.close();
  await rm(dir, { recursive: true, force: true });
});

const options = (overrides: Partial<DownloadOptions> = {}): DownloadOptions => ({
  dispatcher,
  policy: { allowPrivate: true },
  maxBytes: 1024 ** 2,
  timeoutMs: 5_000,
  ...overrides,
});

/** Asserts a DATASET_DOWNLOAD_FAILED whose message matches and never shows the signed token. */
async function assertFails(path: string, message: RegExp, opts = options()): Promise<DatasetError> {
  let failure: DatasetError | undefined;
  await assert.rejects(downloadArchive(`${base}${path}?token=s3cr3t`, join(dir, "out.zip"), opts), (err: unknown) => {
    assert.ok(err instanceof DatasetError, `expected a DatasetError, got ${String(err)}`);
    assert.equal(err.code, "DATASET_DOWNLOAD_FAILED");
    assert.match(err.message, message);
    assert.doesNotMatch(err.message, /s3cr3t|token/, "the signed token must not appear in the message");
    failure = err;
    return true;
  });
  return failure as unknown as DatasetError;
}

describe("downloadArchive", () => {
  it("follows a relative redirect and hashes what it writes", async () => {
    const file = join(dir, "ok.zip");
    const result = await downloadArchive(`${base}/hop?token=first`, file, options());
    assert.equal(result.bytes, payload.length);
    assert.equal(result.sha256, createHash("sha256").update(payload).digest("hex"));
    assert.deepEqual(await readFile(file), payload);
  });

  it("gives up after 3 redirects", async () => {
    await assertFails("/loop", /more than 3 redirects downloading http:\/\/127\.0\.0\.1:\d+\/loop$/);
  });

  it("checks every redirect hop against the outbound policy", async () => {
    await assertFails("/to-file", /dataset URL refused: scheme file: is not allowed/);
  });

  it("reports the HTTP status without the query string", async () => {
    const err = await assertFails("/missing", /HTTP 404 for http:\/\/127\.0\.0\.1:\d+\/missing$/);
    assert.equal(err.retryable, false);
  });

  it("marks server errors as retryable", async () => {
    const err = await assertFails("/busy", /HTTP 503/);
    assert.equal(err.retryable, true);
  });

  it("marks a refused connection as retryable", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const url = `http://127.0.0.1:${port}/dataset.zip?token=s3cr3t`;
    await assert.rejects(downloadArchive(url, join(dir, "refused.zip"), options()), (err: unknown) => {
      assert.ok(err instanceof DatasetError, `expected a DatasetError, got ${String(err)}`);
      assert.match(err.message, /^cannot download http:\/\/127\.0\.0\.1:\d+\/dataset\.zip: .*ECONNREFUSED/);
      assert.doesNotMatch(err.message, /s3cr3t/);
      assert.equal(err.retryable, true);
      return true;
    });
  });

  it("refuses an archive whose content-length is over the limit", async () => {
    await assertFails("/declared-huge", /is 10737418240 bytes, over the 1048576-byte limit/);
  });

  it("stops a body that grows past the limit while streaming", async () => {
    await assertFails("/chunked", /larger than the 1024-byte limit/, options({ maxBytes: 1024 }));
  });

  it("times out a server that never answers", async () => {
    await assertFails("/silent", /timed out after 200 ms/, options({ timeoutMs: 200 }));
  });

  it("refuses a private address before connecting when private networks are not allowed", async () => {
    const before = requests.length;
    await assertFails(
      "/dataset.zip",
      /address 127\.0\.0\.1 is not reachable/,
      options({ policy: { allowPrivate: false } }),
    );
    assert.equal(requests.length, before, "no request may reach the server");
  });
});
