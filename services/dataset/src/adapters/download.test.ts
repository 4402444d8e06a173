import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import type { LookupAddress } from "node:dns";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createTcpServer, type AddressInfo, type LookupFunction, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { guardedAgent, type OutboundPolicy } from "@trainyard/runtime";
import { DatasetError } from "../dataset-error.js";
import { downloadArchive, DownloadInterrupted, MAX_REDIRECTS, type DownloadOptions } from "./download.js";

const payload = randomBytes(256 * 1024);
const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");
const requests: Array<{ path: string; range?: string }> = [];
const hits = (path: string) => requests.filter((r) => r.path === path).length;
let flakyFailures = 0;

const routes: Record<string, (req: IncomingMessage, res: ServerResponse) => void> = {
  "/dataset.zip": (_req, res) => res.writeHead(200, { "content-length": payload.length }).end(payload),
  "/hop": (_req, res) => res.writeHead(302, { location: "dataset.zip?token=second" }).end(),
  "/loop": (_req, res) => res.writeHead(307, { location: "/loop" }).end(),
  "/to-file": (_req, res) => res.writeHead(302, { location: "file:///etc/passwd" }).end(),
  "/to-metadata": (_req, res) => res.writeHead(302, { location: "http://169.254.169.254/latest/meta-data/" }).end(),
  "/to-private": (_req, res) => res.writeHead(301, { location: "http://10.0.0.1/dataset.zip" }).end(),
  "/to-internal-name": (req, res) =>
    res.writeHead(302, { location: `http://internal.example:${portOf(req)}/dataset.zip` }).end(),
  "/missing": (_req, res) => res.writeHead(404).end("no such object"),
  "/busy": (_req, res) => res.writeHead(503, { "retry-after": "0" }).end(),
  "/flaky": (_req, res) => {
    if (flakyFailures-- > 0) res.writeHead(502).end();
    else res.writeHead(200, { "content-length": payload.length }).end(payload);
  },
  "/resumable": (req, res) => {
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
    if (range && req.headers["if-range"] === '"v1"') {
      const from = Number(range[1]);
      res.writeHead(206, { "content-range": `bytes ${from}-${payload.length - 1}/${payload.length}`, etag: '"v1"' });
      res.end(payload.subarray(from));
      return;
    }
    // the first answer breaks off half way
    res.writeHead(200, { "content-length": payload.length, etag: '"v1"' });
    res.write(payload.subarray(0, payload.length / 2), () => res.destroy());
  },
  "/declared-huge": (_req, res) => {
    res.writeHead(200, { "content-length": 10 * 1024 ** 3 });
    res.write(Buffer.alloc(1024));
  },
  "/chunked": (_req, res) => {
    // no content-length: only counting while streaming can stop it
    res.writeHead(200);
    const pump = () => {
      if (!res.destroyed && res.write(Buffer.alloc(64 * 1024, 1))) setImmediate(pump);
      else if (!res.destroyed) res.once("drain", pump);
    };
    pump();
  },
  "/slow-loris": (_req, res) => {
    res.writeHead(200, { "content-length": 1024 ** 2 });
    const drip = setInterval(() => (res.destroyed ? clearInterval(drip) : res.write("x")), 20);
    res.on("close", () => clearInterval(drip));
  },
  "/silent": () => {},
};

function portOf(req: IncomingMessage): number {
  return (req.socket.localAddress && req.socket.localPort) || 0;
}

const server = createServer((req, res) => {
  const path = new URL(req.url ?? "/", "http://x").pathname;
  requests.push({ path, ...(req.headers.range ? { range: req.headers.range } : {}) });
  const route = routes[path];
  if (route) route(req, res);
  else res.writeHead(404).end();
});
/** Sends a status line and then one header byte every 50 ms: headers that never finish. */
const sockets = new Set<Socket>();
const slowHeaders = createTcpServer((socket) => {
  sockets.add(socket);
  socket.write("HTTP/1.1 200 OK\r\n");
  const drip = setInterval(() => socket.write("X"), 50);
  socket.on("close", () => clearInterval(drip));
  socket.on("error", () => clearInterval(drip));
});

let base = "";
let port = 0;
let slowHeadersUrl = "";
let dir = "";
const LOCAL: OutboundPolicy = { allowPrivate: true };
const dispatcher = guardedAgent(LOCAL);

before(async () => {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as AddressInfo).port;
  base = `http://127.0.0.1:${port}`;
  await new Promise<void>((resolve) => slowHeaders.listen(0, "127.0.0.1", resolve));
  slowHeadersUrl = `http://127.0.0.1:${(slowHeaders.address() as AddressInfo).port}/dataset.zip`;
  dir = await mkdtemp(join(tmpdir(), "download-"));
});
after(async () => {
  server.closeAllConnections();
  for (const socket of sockets) socket.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await new Promise<void>((resolve) => slowHeaders.close(() => resolve()));
  await dispatcher.close();
  await rm(dir, { recursive: true, force: true });
});

const options = (overrides: Partial<DownloadOptions> = {}): DownloadOptions => ({
  dispatcher,
  policy: LOCAL,
  maxBytes: 1024 ** 2,
  timeoutMs: 5_000,
  idleTimeoutMs: 2_000,
  attempts: 3,
  backoffMs: 10,
  ...overrides,
});

let files = 0;
/** Asserts a DATASET_DOWNLOAD_FAILED whose message matches and never shows the signed token. */
async function assertFails(url: string, message: RegExp, opts = options()): Promise<DatasetError> {
  let failure: DatasetError | undefined;
  await assert.rejects(downloadArchive(url, join(dir, `out-${++files}.zip`), opts), (err: unknown) => {
    assert.ok(err instanceof DatasetError, `expected a DatasetError, got ${String(err)}`);
    assert.equal(err.code, "DATASET_DOWNLOAD_FAILED");
    assert.match(err.message, message);
    assert.doesNotMatch(err.message, /s3cr3t|token=/, "the signed token must not appear in the message");
    failure = err;
    return true;
  });
  return failure!;
}

describe("downloadArchive", () => {
  it("follows a relative redirect, streams to disk, hashes what it wrote and reports progress", async () => {
    const file = join(dir, "ok.zip");
    const seen: Array<[number, number | null]> = [];
    const result = await downloadArchive(
      `${base}/hop?token=first`,
      file,
      options({ onProgress: (b, t) => seen.push([b, t]) }),
    );
    assert.deepEqual(result, { bytes: payload.length, sha256: sha256(payload) });
    assert.deepEqual(await readFile(file), payload);
    assert.deepEqual(seen[0], [0, payload.length], "the first report gives the declared size");
    assert.deepEqual(seen.at(-1), [payload.length, payload.length]);
    assert.ok(
      seen.every(([b], i) => i === 0 || b >= seen[i - 1]![0]),
      "progress never goes backwards",
    );
  });

  it(`gives up after ${MAX_REDIRECTS} redirects`, async () => {
    await assertFails(
      `${base}/loop?token=s3cr3t`,
      /more than 5 redirects downloading http:\/\/127\.0\.0\.1:\d+\/loop$/,
    );
    assert.equal(hits("/loop"), MAX_REDIRECTS + 1);
  });

  it("reports the HTTP status without the query string, and does not retry a 404", async () => {
    const before = hits("/missing");
    const err = await assertFails(`${base}/missing?token=s3cr3t`, /HTTP 404 for http:\/\/127\.0\.0\.1:\d+\/missing$/);
    assert.equal(err.retryable, false);
    assert.match(err.details, /signature has not expired/);
    assert.equal(hits("/missing") - before, 1, "a 404 is final");
  });

  it("retries server errors with back-off, then succeeds", async () => {
    flakyFailures = 2;
    const before = hits("/flaky");
    const result = await downloadArchive(`${base}/flaky`, join(dir, "flaky.zip"), options());
    assert.equal(result.sha256, sha256(payload));
    assert.equal(hits("/flaky") - before, 3, "two 502s, then the archive");
  });

  it("fails after the configured attempts when the server keeps failing", async () => {
    const before = hits("/busy");
    const err = await assertFails(`${base}/busy?token=s3cr3t`, /HTTP 503/, options({ attempts: 3 }));
    assert.equal(hits("/busy") - before, 3);
    assert.equal(err.retryable, true);
  });

  it("resumes a broken-off body with a Range request", async () => {
    const before = requests.length;
    const result = await downloadArchive(`${base}/resumable`, join(dir, "resumed.zip"), options());
    assert.deepEqual(result, { bytes: payload.length, sha256: sha256(payload) });
    assert.deepEqual(await readFile(join(dir, "resumed.zip")), payload);
    const ranges = requests.slice(before).map((r) => r.range ?? null);
    assert.equal(ranges.length, 2, "one broken answer, one resumed");
    assert.equal(ranges[0], null);
    // where the first answer broke off depends on what reached the socket before the reset
    const from = Number(/^bytes=(\d+)-$/.exec(ranges[1] ?? "")?.[1]);
    assert.ok(from > 0 && from <= payload.length / 2, `resumed from byte ${from}, not from the start`);
  });

  it("marks a refused connection as retryable and names the error", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const err = await assertFails(
      `http://127.0.0.1:${closedPort}/dataset.zip?token=s3cr3t`,
      /^cannot download http:\/\/127\.0\.0\.1:\d+\/dataset\.zip: .*ECONNREFUSED/,
      options({ attempts: 2 }),
    );
    assert.equal(err.retryable, true);
  });

  it("refuses an archive whose Content-Length is over the limit without reading it", async () => {
    const started = Date.now();
    await assertFails(`${base}/declared-huge`, /is 10737418240 bytes, over the 1048576-byte limit/);
    assert.ok(Date.now() - started < 2_000, "refused at once");
  });

  it("stops a body that grows past the limit while streaming, keeping no more than the limit", async () => {
    const file = join(dir, "chunked.zip");
    await assert.rejects(
      downloadArchive(`${base}/chunked`, file, options({ maxBytes: 300_000 })),
      /larger than the 300000-byte limit/,
    );
    assert.ok((await stat(file)).size <= 300_000, "nothing past the limit reached the disk");
  });

  it("ends a slow-loris download at the overall deadline", async () => {
    const started = Date.now();
    await assertFails(
      `${base}/slow-loris`,
      /timed out after 800 ms/,
      options({ timeoutMs: 800, idleTimeoutMs: 5_000 }),
    );
    const elapsed = Date.now() - started;
    assert.ok(elapsed < 2_000, `ended after ${elapsed} ms, deadline 800 ms`);
  });

  it("ends a download whose headers never finish at the idle timeout, retries included", async () => {
    const started = Date.now();
    const err = await assertFails(
      slowHeadersUrl,
      /Headers Timeout|HEADERS_TIMEOUT/,
      options({ idleTimeoutMs: 300, attempts: 2 }),
    );
    assert.match(err.details, /too slow/);
    // undici's idle timers tick about every 500 ms, so each attempt ends within 300..~1000 ms
    const elapsed = Date.now() - started;
    assert.ok(elapsed < 3_000, `ended after ${elapsed} ms: 2 attempts of 300 ms`);
  });

  it("stops a download under way when its signal aborts (a cancelled job): interrupted, not failed, not retried", async () => {
    const stop = new AbortController();
    const before = hits("/slow-loris");
    const download = downloadArchive(
      `${base}/slow-loris`,
      join(dir, `out-${++files}.zip`),
      options({
        signal: stop.signal,
        // the response has started: its size is known, its body trickles in
        onProgress: () => stop.abort(),
      }),
    );
    await assert.rejects(download, (err: unknown) => {
      assert.ok(err instanceof DownloadInterrupted, `expected DownloadInterrupted, got ${String(err)}`);
      return true;
    });
    assert.equal(hits("/slow-loris") - before, 1, "no retry after the abort");
  });

  it("ends a download from a server that never answers at the deadline", async () => {
    const started = Date.now();
    await assertFails(`${base}/silent`, /timed out after 500 ms/, options({ timeoutMs: 500, idleTimeoutMs: 5_000 }));
    assert.ok(Date.now() - started < 1_500);
  });
});

/** A resolver with fixed answers, as an attacker's DNS would give them. */
const fakeDns: Record<string, LookupAddress[]> = {
  "metadata.example": [{ address: "169.254.169.254", family: 4 }],
  "internal.example": [{ address: "10.1.2.3", family: 4 }],
  "loopback.example": [{ address: "127.0.0.1", family: 4 }],
  "v6-loopback.example": [{ address: "::1", family: 6 }],
  "mapped.example": [{ address: "::ffff:127.0.0.1", family: 6 }],
  "allowed.example": [{ address: "127.0.0.1", family: 4 }],
};
const fakeLookup = ((hostname: string, _options: unknown, callback: (e: Error | null, a: LookupAddress[]) => void) => {
  const answer = fakeDns[hostname];
  if (answer) callback(null, answer);
  else callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: "ENOTFOUND" }), []);
}) as unknown as LookupFunction;

describe("SSRF guard on dataset URLs (default policy)", () => {
  const STRICT: OutboundPolicy = { allowPrivate: false, allowHosts: ["allowed.example"] };
  const guarded = guardedAgent(STRICT, { connect: { lookup: fakeLookup } });
  const realDns = guardedAgent(STRICT);
  after(async () => {
    await guarded.close();
    await realDns.close();
  });

  type SsrfCase = [name: string, url: () => string, message: RegExp, resolver?: "real"];
  const refused: SsrfCase[] = [
    ["loopback", () => `http://127.0.0.1:${port}/dataset.zip`, /127\.0\.0\.1 is not reachable .*loopback/],
    ["private 10/8", () => "http://10.0.0.1/dataset.zip", /10\.0\.0\.1 .*private/],
    ["private 172.16/12", () => "http://172.16.0.1/dataset.zip", /private/],
    ["private 192.168/16", () => "http://192.168.1.1/dataset.zip", /private/],
    ["cloud metadata", () => "http://169.254.169.254/latest/meta-data/", /cloud metadata/],
    ["unspecified 0.0.0.0", () => `http://0.0.0.0:${port}/dataset.zip`, /unspecified/],
    ["carrier-grade NAT", () => "http://100.64.0.1/dataset.zip", /shared address space/],
    ["multicast", () => "http://224.0.0.1/dataset.zip", /multicast/],
    ["decimal-encoded loopback", () => `http://2130706433:${port}/dataset.zip`, /127\.0\.0\.1/],
    ["hex/short loopback", () => `http://0x7f.1:${port}/dataset.zip`, /127\.0\.0\.1/],
    ["octal loopback", () => `http://017700000001:${port}/dataset.zip`, /127\.0\.0\.1/],
    ["IPv6 loopback", () => `http://[::1]:${port}/dataset.zip`, /::1 .*loopback/],
    ["IPv4-mapped IPv6", () => `http://[::ffff:127.0.0.1]:${port}/dataset.zip`, /IPv4-mapped/],
    ["IPv6 unique-local metadata", () => "http://[fd00:ec2::254]/latest/meta-data/", /cloud metadata/],
    ["IPv6 link-local", () => "http://[fe80::1]/dataset.zip", /link-local/],
    ["NAT64", () => "http://[64:ff9b::a00:1]/dataset.zip", /NAT64/],
    ["a name resolving to metadata", () => "http://metadata.example/latest/", /169\.254\.169\.254 .*cloud metadata/],
    ["a name resolving to a private address", () => "http://internal.example/dataset.zip", /10\.1\.2\.3/],
    ["a name resolving to 127.0.0.1", () => `http://loopback.example:${port}/dataset.zip`, /127\.0\.0\.1/],
    ["a name resolving to ::1", () => `http://v6-loopback.example:${port}/dataset.zip`, /::1/],
    ["a name resolving to a mapped address", () => `http://mapped.example:${port}/dataset.zip`, /IPv4-mapped/],
    ["localhost (real resolver)", () => `http://localhost:${port}/dataset.zip`, /loopback/, "real"],
    [
      "a redirect from an allowed host to a private address",
      () => `http://allowed.example:${port}/to-private`,
      /10\.0\.0\.1 is not reachable/,
    ],
    [
      "a redirect from an allowed host to cloud metadata",
      () => `http://allowed.example:${port}/to-metadata`,
      /169\.254\.169\.254 .*cloud metadata/,
    ],
    [
      "a redirect from an allowed host to a name resolving inside",
      () => `http://allowed.example:${port}/to-internal-name`,
      /internal\.example resolves only to refused addresses/,
    ],
    ["a file: URL", () => "file:///etc/passwd", /scheme file: is not allowed/],
    ["credentials in the URL", () => `http://user:pw@allowed.example:${port}/dataset.zip`, /credentials/],
  ];

  it(`refuses at least 15 URLs (${refused.length})`, () => assert.ok(refused.length >= 15));

  for (const [name, url, message, dns] of refused) {
    it(`refuses ${name} with DATASET_DOWNLOAD_FAILED`, async () => {
      const direct = requests.filter((r) => r.path === "/dataset.zip").length;
      const err = await assertFails(
        url(),
        message,
        options({ dispatcher: dns === "real" ? realDns : guarded, policy: STRICT, timeoutMs: 3_000, attempts: 1 }),
      );
      assert.match(err.message, /^dataset URL refused: /);
      assert.match(err.details, /internal or reserved network address|dataset URL/);
      assert.equal(requests.filter((r) => r.path === "/dataset.zip").length, direct, "no request reached the file");
    });
  }

  it("reaches an allow-listed host on loopback", async () => {
    const result = await downloadArchive(
      `http://allowed.example:${port}/dataset.zip`,
      join(dir, "allowed.zip"),
      options({ dispatcher: guarded, policy: STRICT }),
    );
    assert.equal(result.sha256, sha256(payload));
  });
});
