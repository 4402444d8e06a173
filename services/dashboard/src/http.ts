import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import { join } from "node:path";
import type { ApiError } from "@trainyard/contracts";
import type { Logger } from "@trainyard/runtime";
import { z } from "zod";
import type { JobStore } from "./adapters/job-store.js";
import { toDetail, toSummary, type JobList } from "./job-wire.js";
import { SNAPSHOT_LIMIT } from "./live-hub.js";
import { resolveStaticPath, sendFile } from "./static-files.js";

export interface HttpDeps {
  store: JobStore;
  log: Logger;
  /** Folder of the built UI (vite's outDir). */
  uiDir: string;
  natsConnected(): boolean;
}

const JobId = z.uuid();
/** Pages of the single-page app (PRD 5.1 and 5.2); the browser routes them. */
const APP_PAGES = [/^\/$/, /^\/jobs\/[^/]+\/?$/];

/** `/api/jobs`, `/api/jobs/:id`, `/healthz` and the built UI, GET and HEAD only. */
export function createHttpHandler(deps: HttpDeps): RequestListener {
  return (req, res) => {
    route(deps, req, res).catch((err: unknown) => {
      deps.log.error({ err, method: req.method, url: req.url }, "request failed");
      if (res.headersSent) res.destroy();
      else sendJson(res, 500, apiError("internal error", "INTERNAL_ERROR"));
    });
  };
}

async function route(deps: HttpDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.setHeader("allow", "GET, HEAD");
    return sendText(res, 405, "method not allowed\n");
  }
  const path = new URL(req.url ?? "/", "http://dashboard").pathname;
  const head = req.method === "HEAD";

  if (path === "/healthz") return health(deps, res);
  if (path === "/api/jobs") {
    const [records, counts] = await Promise.all([deps.store.listNewest(SNAPSHOT_LIMIT), deps.store.countByStatus()]);
    const body: JobList = { jobs: records.map(toSummary), counts };
    return sendJson(res, 200, body);
  }
  const jobMatch = /^\/api\/jobs\/([^/]+)$/.exec(path);
  if (jobMatch) {
    const id = jobMatch[1] ?? "";
    const record = JobId.safeParse(id).success ? await deps.store.get(id) : null;
    if (!record) return sendJson(res, 404, apiError(`job ${id} not found`, "JOB_NOT_FOUND"));
    return sendJson(res, 200, toDetail(record));
  }
  if (path.startsWith("/api/")) return sendJson(res, 404, apiError("no such endpoint", "NOT_FOUND"));

  if (APP_PAGES.some((page) => page.test(path))) {
    if (await sendFile(res, join(deps.uiDir, "index.html"), { head, immutable: false })) return;
    return sendText(res, 503, "The dashboard UI is not built: run `pnpm --filter @trainyard/dashboard build:ui`.\n");
  }
  const file = resolveStaticPath(deps.uiDir, path);
  if (file && (await sendFile(res, file, { head, immutable: path.startsWith("/assets/") }))) return;
  sendText(res, 404, "not found\n");
}

async function health(deps: HttpDeps, res: ServerResponse): Promise<void> {
  const mongo = await deps.store.ping().then(
    () => true,
    () => false,
  );
  const nats = deps.natsConnected();
  sendJson(res, mongo && nats ? 200 : 503, { status: mongo && nats ? "ok" : "degraded", mongo, nats });
}

function apiError(detail: string, code: ApiError["code"]): ApiError {
  return { detail, code };
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
  });
  res.end(text);
}

function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8", "content-length": Buffer.byteLength(text) });
  res.end(text);
}
