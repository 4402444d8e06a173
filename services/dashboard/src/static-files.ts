import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import type { ServerResponse } from "node:http";
import { extname, isAbsolute, join, relative, sep } from "node:path";

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".webp": "image/webp",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".txt": "text/plain; charset=utf-8",
};

/**
 * Only same-origin scripts, styles and connections (the live feed); no framing. Images may also
 * come from `imageOrigin`: the plots of a job are signed gateway downloads.
 */
export function pageCsp(imageOrigin: string | null): string {
  const img = ["'self'", "data:", ...(imageOrigin ? [imageOrigin] : [])].join(" ");
  return `default-src 'self'; connect-src 'self'; img-src ${img}; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'`;
}

export function contentType(file: string): string {
  return CONTENT_TYPES[extname(file).toLowerCase()] ?? "application/octet-stream";
}

/**
 * The file under `root` that the URL path names, or null when the path is malformed, hidden
 * (a dot segment such as `.env`) or would leave `root` (`..`, encoded or not).
 */
export function resolveStaticPath(root: string, urlPath: string): string | null {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  if (decoded.includes("\0") || decoded.includes("\\")) return null;
  const segments = decoded.split("/").filter((s) => s !== "");
  if (segments.length === 0 || segments.some((s) => s.startsWith("."))) return null;
  const file = join(root, ...segments);
  const rel = relative(root, file);
  if (rel === "" || rel.startsWith(`..${sep}`) || rel === ".." || isAbsolute(rel)) return null;
  return file;
}

/** Streams `file` when it is a regular file; false (nothing sent) when it is not. */
export async function sendFile(
  res: ServerResponse,
  file: string,
  opts: { head: boolean; immutable: boolean; csp: string },
): Promise<boolean> {
  const info = await stat(file).catch(() => null);
  if (!info?.isFile()) return false;
  const type = contentType(file);
  res.writeHead(200, {
    "content-type": type,
    "content-length": info.size,
    // Vite puts a content hash in asset names, so those never change; index.html must be revalidated.
    "cache-control": opts.immutable ? "public, max-age=31536000, immutable" : "no-cache",
    "x-content-type-options": "nosniff",
    ...(type.startsWith("text/html") ? { "content-security-policy": opts.csp } : {}),
  });
  if (opts.head) {
    res.end();
    return true;
  }
  await new Promise<void>((resolve, reject) => {
    const stream = createReadStream(file);
    stream.on("error", reject);
    res.on("close", resolve);
    stream.pipe(res);
  });
  return true;
}
