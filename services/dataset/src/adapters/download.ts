import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { checkOutboundUrl, OutboundUrlError, type OutboundPolicy } from "@trainyard/runtime";
import { request, type Dispatcher } from "undici";
import { DatasetError } from "../dataset-error.js";

/** Redirect hops followed after the first request; each hop passes the SSRF guard again. */
export const MAX_REDIRECTS = 3;

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const RETRYABLE_STATUS = (status: number) => status >= 500 || status === 408 || status === 429;
const RETRYABLE_NETWORK = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "EPIPE",
  "ETIMEDOUT",
  "EAI_AGAIN",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
]);

export interface DownloadOptions {
  /** Must connect through the guarded lookup (`guardedAgent`), so DNS answers are checked too. */
  dispatcher: Dispatcher;
  policy: OutboundPolicy;
  maxBytes: number;
  timeoutMs: number;
  /** Aborts the download when the service stops; the job is then retried, not failed. */
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

/**
 * Streams `rawUrl` into `destFile`, following at most MAX_REDIRECTS redirects, refusing
 * anything larger than `maxBytes`. Every failure is a DatasetError (DATASET_DOWNLOAD_FAILED)
 * whose message shows the URL without its query string, which holds the signed token.
 */
export async function downloadArchive(
  rawUrl: string,
  destFile: string,
  opts: DownloadOptions,
): Promise<DownloadedArchive> {
  const deadline = AbortSignal.timeout(opts.timeoutMs);
  const signal = opts.signal ? AbortSignal.any([deadline, opts.signal]) : deadline;
  let url = guard(rawUrl, opts.policy);
  try {
    for (let hop = 0; ; hop++) {
      const res = await request(url, {
        method: "GET",
        dispatcher: opts.dispatcher,
        signal,
        headers: { accept: "application/zip, application/octet-stream;q=0.9, */*;q=0.1" },
      });
      if (REDIRECTS.has(res.statusCode)) {
        await discard(res.body);
        const location = firstHeader(res.headers.location);
        if (!location) throw failure(`redirect ${res.statusCode} from ${shown(url)} has no Location header`);
        if (hop === MAX_REDIRECTS) throw failure(`more than ${MAX_REDIRECTS} redirects downloading ${shown(url)}`);
        url = guard(new URL(location, url).href, opts.policy);
        continue;
      }
      if (res.statusCode !== 200) {
        await discard(res.body);
        throw failure(
          `dataset server answered HTTP ${res.statusCode} for ${shown(url)}`,
          RETRYABLE_STATUS(res.statusCode),
        );
      }
      const declared = Number(firstHeader(res.headers["content-length"]) ?? Number.NaN);
      if (Number.isFinite(declared) && declared > opts.maxBytes) {
        await discard(res.body);
        throw tooLarge(opts.maxBytes, declared);
      }
      return await save(res.body, destFile, opts.maxBytes);
    }
  } catch (err) {
    if (opts.signal?.aborted) throw new DownloadInterrupted("download interrupted: the service is stopping");
    if (err instanceof DatasetError) throw err;
    if (deadline.aborted) throw failure(`download of ${shown(url)} timed out after ${opts.timeoutMs} ms`);
    throw networkFailure(err, url);
  }
}

async function save(body: NodeJS.ReadableStream, destFile: string, maxBytes: number): Promise<DownloadedArchive> {
  const hash = createHash("sha256");
  let bytes = 0;
  // Counted as received: a missing or lying content-length cannot get past the limit.
  const meter = new Transform({
    transform(chunk: Buffer, _enc, callback) {
      bytes += chunk.length;
      if (bytes > maxBytes) return callback(tooLarge(maxBytes));
      hash.update(chunk);
      callback(null, chunk);
    },
  });
  await pipeline(body, meter, createWriteStream(destFile));
  return { bytes, sha256: hash.digest("hex") };
}

/** Releases a response we will not read; a body past dump's small limit closes the connection instead. */
async function discard(body: Dispatcher.ResponseData["body"]): Promise<void> {
  await body.dump({ limit: 64 * 1024 }).catch(() => undefined);
}

function guard(raw: string, policy: OutboundPolicy): URL {
  try {
    return checkOutboundUrl(raw, policy);
  } catch (err) {
    throw failure(`dataset URL refused: ${(err as Error).message}`);
  }
}

function networkFailure(err: unknown, url: URL): DatasetError {
  const blocked = findCause(err, (e) => e instanceof OutboundUrlError || e.name === "OutboundUrlError");
  if (blocked) return failure(`dataset URL refused: ${blocked.message}`);
  const coded = findCause(err, (e) => typeof (e as { code?: unknown }).code === "string");
  const code = coded ? String((coded as { code?: unknown }).code) : undefined;
  let reason = (coded ?? (err as Error)).message || String(err);
  if (code && !reason.includes(code)) reason = `${code} ${reason}`;
  // Library messages are foreign text: make sure none of them carries the signed token.
  if (url.search) reason = reason.split(url.search).join("");
  return failure(`cannot download ${shown(url)}: ${reason}`, code !== undefined && RETRYABLE_NETWORK.has(code));
}

/** Walks `err.cause` links: undici wraps connect errors. */
function findCause(err: unknown, match: (e: Error) => boolean): Error | undefined {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (match(e)) return e;
  }
  return undefined;
}

function failure(message: string, retryable = false): DatasetError {
  return new DatasetError("DATASET_DOWNLOAD_FAILED", message, undefined, retryable);
}

function tooLarge(maxBytes: number, declared?: number): DatasetError {
  const size = declared === undefined ? "is larger than" : `is ${declared} bytes, over`;
  return failure(`dataset archive ${size} the ${maxBytes}-byte limit`);
}

/** The URL as it may appear in messages and logs: no query string, no fragment. */
export function shown(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
