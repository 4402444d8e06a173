import { createHash, type Hash } from "node:crypto";
import { open, type FileHandle } from "node:fs/promises";
import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { checkOutboundUrl, OutboundUrlError, type OutboundPolicy } from "@trainyard/runtime";
import { request, type Dispatcher } from "undici";
import { DatasetError } from "../dataset-error.js";
import { localDiskError } from "../local-disk.js";

/** Redirect hops followed after the first request; each hop passes the SSRF guard again. */
export const MAX_REDIRECTS = 5;

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** Bytes collected before each write to disk. */
const WRITE_BATCH = 4 * 1024 ** 2;
const RETRYABLE_STATUS = (status: number) => status >= 500 || status === 408 || status === 429;
const RETRYABLE_NETWORK = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "EPIPE",
  "ETIMEDOUT",
  "EAI_AGAIN",
  "UND_ERR_SOCKET",
  "UND_ERR_CLOSED",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
]);
const DETAILS = {
  url: "Please check that the dataset URL is correct, publicly reachable, and that its signature has not expired.",
  server: "The dataset server failed repeatedly. Please try again later or upload the dataset elsewhere.",
  blocked:
    "The dataset URL points at an internal or reserved network address, which this service never fetches. Please use a public storage URL.",
  size: "Please upload a smaller archive, or ask the operator to raise the size limit.",
  slow: "The dataset server is too slow or stopped sending data. Please try again later or upload the dataset elsewhere.",
};

export interface DownloadOptions {
  /** Must be a `guardedAgent`: it checks DNS answers and the connected address of every hop. */
  dispatcher: Dispatcher;
  policy: OutboundPolicy;
  maxBytes: number;
  /** Deadline of the whole download, every attempt, redirect and back-off included. */
  timeoutMs: number;
  /** Longest silence while waiting for response headers or between body chunks. */
  idleTimeoutMs: number;
  /** Tries for network errors and 5xx/408/429 answers, the first included. */
  attempts: number;
  /** First back-off; doubled per retry with jitter, raised to a server's Retry-After up to 30 s. */
  backoffMs?: number;
  /** Called as bytes arrive (first with 0 once the size is known); total is null when undeclared. */
  onProgress?: (bytes: number, total: number | null) => void;
  /** Aborts the download (the service stops, or the job was cancelled): never a job failure. */
  signal?: AbortSignal;
}

export interface DownloadedArchive {
  bytes: number;
  /** Hex digest of the bytes written, computed while streaming. */
  sha256: string;
}

/** Thrown when `signal` stopped the download: not the dataset's fault, so never a job failure. */
export class DownloadInterrupted extends Error {
  override name = "DownloadInterrupted";
}

/** What survives between attempts, so a retry can resume with a Range request. */
interface Progress {
  file: FileHandle;
  hash: Hash;
  bytes: number;
  total: number | null;
  /** ETag or Last-Modified of the response being resumed. */
  validator: string | null;
}

/**
 * Streams `rawUrl` into `destFile` (never the whole body in memory), following at most
 * MAX_REDIRECTS redirects by hand so each hop is checked, refusing anything over `maxBytes`
 * (early on Content-Length, always while streaming), retrying network errors and server errors
 * with back-off and resuming with a Range request when the server supports it. Every failure
 * is a DatasetError (DATASET_DOWNLOAD_FAILED) that shows the URL without its query string,
 * which holds the signed token.
 */
export async function downloadArchive(
  rawUrl: string,
  destFile: string,
  opts: DownloadOptions,
): Promise<DownloadedArchive> {
  const deadline = AbortSignal.timeout(opts.timeoutMs);
  const signal = opts.signal ? AbortSignal.any([deadline, opts.signal]) : deadline;
  const start = guard(rawUrl, opts.policy);
  const progress: Progress = {
    file: await open(destFile, "w"),
    hash: createHash("sha256"),
    bytes: 0,
    total: null,
    validator: null,
  };
  try {
    for (let attempt = 1; ; attempt++) {
      let retryAfterMs = 0;
      try {
        await attemptDownload(start, progress, opts, signal);
        return { bytes: progress.bytes, sha256: progress.hash.digest("hex") };
      } catch (err) {
        if (opts.signal?.aborted) throw new DownloadInterrupted("download interrupted");
        if (deadline.aborted) {
          throw failure(`download of ${shown(start)} timed out after ${opts.timeoutMs} ms`, DETAILS.slow);
        }
        // this host's disk, not the URL: passed on as it is, for the intake to be retried later
        if (localDiskError(err)) throw err;
        const refused = err instanceof DatasetError ? err : networkFailure(err, start);
        if (!refused.retryable || attempt >= opts.attempts) throw refused;
        retryAfterMs = (err as { retryAfterMs?: number }).retryAfterMs ?? 0;
      }
      const backoff = (opts.backoffMs ?? 1_000) * 2 ** (attempt - 1) * (0.75 + Math.random() / 2);
      await sleep(Math.min(30_000, Math.max(backoff, retryAfterMs)), undefined, { signal }).catch(() => undefined);
    }
  } finally {
    await progress.file.close();
  }
}

/** One request chain (redirects included) that appends to `progress`, or restarts it when it cannot resume. */
async function attemptDownload(
  start: URL,
  progress: Progress,
  opts: DownloadOptions,
  signal: AbortSignal,
): Promise<void> {
  let url = start;
  // a failed write cleared the validator: the file's content is then unknown, so no resume
  const resuming = progress.bytes > 0 && progress.validator !== null;
  for (let hop = 0; ; hop++) {
    const headers: Record<string, string> = {
      accept: "application/zip, application/octet-stream;q=0.9, */*;q=0.1",
      "accept-encoding": "identity",
    };
    if (resuming) {
      headers.range = `bytes=${progress.bytes}-`;
      headers["if-range"] = progress.validator!;
    }
    const res = await request(url, {
      method: "GET",
      dispatcher: opts.dispatcher,
      signal,
      headers,
      headersTimeout: opts.idleTimeoutMs,
      bodyTimeout: opts.idleTimeoutMs,
    });
    if (REDIRECTS.has(res.statusCode)) {
      await discard(res.body);
      const location = firstHeader(res.headers.location);
      if (!location) throw failure(`redirect ${res.statusCode} from ${shown(url)} has no Location header`, DETAILS.url);
      if (hop === MAX_REDIRECTS)
        throw failure(`more than ${MAX_REDIRECTS} redirects downloading ${shown(url)}`, DETAILS.url);
      const next = guard(new URL(location, url).href, opts.policy);
      if (url.protocol === "https:" && next.protocol === "http:") {
        throw failure(`redirect from ${shown(url)} to unencrypted ${shown(next)} refused`, DETAILS.url);
      }
      url = next;
      continue;
    }
    const resumed = res.statusCode === 206 && resuming && rangeStart(res.headers["content-range"]) === progress.bytes;
    if (res.statusCode !== 200 && !resumed) {
      await discard(res.body);
      const retryable = RETRYABLE_STATUS(res.statusCode) || res.statusCode === 206;
      const error = failure(
        `dataset server answered HTTP ${res.statusCode} for ${shown(url)}`,
        retryable ? DETAILS.server : DETAILS.url,
        retryable,
      );
      if (res.statusCode === 206) await restart(progress);
      throw Object.assign(error, { retryAfterMs: retryAfter(res.headers["retry-after"]) });
    }
    if (!resumed) {
      await restart(progress);
      const declared = Number(firstHeader(res.headers["content-length"]) ?? Number.NaN);
      progress.total = Number.isSafeInteger(declared) && declared >= 0 ? declared : null;
      progress.validator = firstHeader(res.headers.etag) ?? firstHeader(res.headers["last-modified"]) ?? null;
      if (progress.total !== null && progress.total > opts.maxBytes) {
        await discard(res.body);
        throw tooLarge(opts.maxBytes, progress.total);
      }
    }
    opts.onProgress?.(progress.bytes, progress.total);
    await pipeline(res.body, sink(progress, opts));
    return;
  }
}

/**
 * Writes to the file in large batches (few thread-pool round trips per gigabyte) and hashes
 * exactly what was written, so a retry can resume from `bytes`. A failed write leaves the file
 * unknown: the next attempt starts over.
 */
function sink(progress: Progress, opts: DownloadOptions): Writable {
  let batch: Buffer[] = [];
  let batchBytes = 0;
  let writing = Promise.resolve();
  const writeBatch = async () => {
    if (batchBytes === 0) return;
    const [buffers, length] = [batch, batchBytes];
    batch = [];
    batchBytes = 0;
    const written = progress.file.writev(buffers, progress.bytes);
    // hashed on this thread while the pool writes
    for (const buffer of buffers) progress.hash.update(buffer);
    try {
      await written;
    } catch (err) {
      progress.validator = null;
      throw err;
    }
    progress.bytes += length;
    opts.onProgress?.(progress.bytes, progress.total);
  };
  // one write at a time, each at the offset the previous one ended at
  const flush = () => (writing = writing.then(writeBatch));
  return new Writable({
    highWaterMark: WRITE_BATCH,
    write(chunk: Buffer, _encoding, callback) {
      // counted as received: a missing or lying Content-Length cannot get past the limit
      if (progress.bytes + batchBytes + chunk.length > opts.maxBytes) return callback(tooLarge(opts.maxBytes));
      batch.push(chunk);
      batchBytes += chunk.length;
      if (batchBytes < WRITE_BATCH) return callback();
      flush().then(() => callback(), callback);
    },
    final(callback) {
      flush().then(() => callback(), callback);
    },
    destroy(err, callback) {
      // what arrived before a broken connection is good: keep it, so the next attempt resumes after it
      flush().then(
        () => callback(err),
        () => callback(err),
      );
    },
  });
}

/** Starts the file and its digest over. */
async function restart(progress: Progress): Promise<void> {
  await progress.file.truncate(0);
  progress.hash = createHash("sha256");
  progress.bytes = 0;
}

/** Releases a response we will not read; a body past dump's small limit closes the connection instead. */
async function discard(body: Dispatcher.ResponseData["body"]): Promise<void> {
  await body.dump({ limit: 64 * 1024 }).catch(() => undefined);
}

function guard(raw: string, policy: OutboundPolicy): URL {
  try {
    return checkOutboundUrl(raw, policy);
  } catch (err) {
    throw failure(`dataset URL refused: ${(err as Error).message}`, DETAILS.blocked);
  }
}

function networkFailure(err: unknown, url: URL): DatasetError {
  const blocked = findCause(err, (e) => e instanceof OutboundUrlError || e.name === "OutboundUrlError");
  if (blocked) return failure(`dataset URL refused: ${blocked.message}`, DETAILS.blocked);
  const coded = findCause(err, (e) => typeof (e as { code?: unknown }).code === "string");
  const code = coded ? String((coded as { code?: unknown }).code) : undefined;
  let reason = (coded ?? (err as Error)).message || String(err);
  if (code && !reason.includes(code)) reason = `${code} ${reason}`;
  // Library messages are foreign text: make sure none of them carries the signed token.
  if (url.search) reason = reason.split(url.search).join("");
  const retryable = code !== undefined && RETRYABLE_NETWORK.has(code);
  const details = code?.includes("TIMEOUT") ? DETAILS.slow : retryable ? DETAILS.server : DETAILS.url;
  return failure(`cannot download ${shown(url)}: ${reason}`, details, retryable);
}

/** Walks `err.cause` links: undici wraps connect errors. */
function findCause(err: unknown, match: (e: Error) => boolean): Error | undefined {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (match(e)) return e;
  }
  return undefined;
}

function failure(message: string, details: string, retryable = false): DatasetError {
  return new DatasetError("DATASET_DOWNLOAD_FAILED", message, details, retryable);
}

function tooLarge(maxBytes: number, declared?: number): DatasetError {
  const size = declared === undefined ? "is larger than" : `is ${declared} bytes, over`;
  return failure(`dataset archive ${size} the ${maxBytes}-byte limit`, DETAILS.size);
}

function rangeStart(header: string | string[] | undefined): number | null {
  const match = /^bytes (\d+)-/.exec(firstHeader(header) ?? "");
  return match ? Number(match[1]) : null;
}

function retryAfter(header: string | string[] | undefined): number {
  const value = firstHeader(header);
  if (!value) return 0;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isFinite(date) ? Math.max(0, date - Date.now()) : 0;
}

/** The URL as it may appear in messages and logs: no query string, no fragment. */
export function shown(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
