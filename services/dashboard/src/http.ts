import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import { join } from "node:path";
import type { Logger } from "@trainyard/runtime";
import { z } from "zod";
import type { Access } from "./access.js";
import type { DeliveryLog } from "./adapters/delivery-log.js";
import type { GatewayClient } from "./adapters/gateway-client.js";
import type { JobStore } from "./adapters/job-store.js";
import type { FileLinks } from "./file-links.js";
import { LIVE_CONNECTIONS_PER_CLIENT, type Gate } from "./gate.js";
import { apiError, BodyError, isSecure, readJson, sameOrigin, sendEmpty, sendJson, sendText } from "./http-io.js";
import {
  FILE_KINDS,
  toDeliveryView,
  toDetail,
  toPoint,
  toSummary,
  type FileKind,
  type Health,
  type JobList,
  type Overview,
  type SessionInfo,
} from "./job-wire.js";
import type { ProgressStreams } from "./progress-stream.js";
import { resolveStaticPath, sendFile } from "./static-files.js";

export interface HttpDeps {
  store: JobStore;
  deliveries: DeliveryLog;
  access: Access;
  /** Host check, the trusted client address, token checks through the login limiter, live connection caps. */
  gate: Gate;
  overview(): Promise<Overview>;
  /** Checks MongoDB and NATS now. */
  health(): Promise<Health>;
  /** Null when cancelling is not configured (GATEWAY_URL, GATEWAY_API_TOKEN). */
  gateway: GatewayClient | null;
  /** Null when downloads are not configured (DOWNLOAD_URL_SECRET, PUBLIC_BASE_URL). */
  links: FileLinks | null;
  appUrlTemplate: string | null;
  streams: ProgressStreams;
  /** Tells the browsers about a job the gateway just changed (the projection hears it later). */
  refreshJob(jobId: string): Promise<void>;
  log: Logger;
  /** Folder of the built UI (vite's outDir). */
  uiDir: string;
  /** Content-Security-Policy of the app's pages. */
  csp: string;
}

const JobId = z.uuid();
const Login = z.object({ token: z.string().min(1).max(1024) });
/** Pages of the single-page app (PRD 5.1 and 5.2); the browser routes them. */
const APP_PAGES = [/^\/$/, /^\/jobs\/[^/]+\/?$/];
const LIST_LIMIT = 100;
const tooManyFailures = apiError("too many failed logins; wait a few minutes", "RATE_LIMITED");
const tooManyStreams = apiError(
  `at most ${LIVE_CONNECTIONS_PER_CLIENT} live streams per client: close one first`,
  "RATE_LIMITED",
);
/** Cancelling and downloading need an operator: without DASHBOARD_TOKEN anyone who reaches the page would be one. */
const operatorOnly = apiError(
  "set DASHBOARD_TOKEN to cancel jobs or download files from the dashboard",
  "UNAUTHORIZED",
);

/** The dashboard's HTTP API, the progress streams and the built UI. */
export function createHttpHandler(deps: HttpDeps): RequestListener {
  return (req, res) => {
    route(deps, req, res).catch((err: unknown) => {
      if (err instanceof BodyError) return sendJson(res, err.status, apiError(err.message, "INVALID_PAYLOAD"));
      deps.log.error({ err, method: req.method, url: req.url }, "request failed");
      if (res.headersSent) res.destroy();
      else sendJson(res, 500, apiError("internal error", "INTERNAL_ERROR"));
    });
  };
}

async function route(deps: HttpDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = new URL(req.url ?? "/", "http://dashboard").pathname;
  const method = req.method ?? "GET";

  // DNS rebinding: a foreign page whose name points here sends that name
  if (!deps.gate.hostAllowed(req)) return sendJson(res, 421, apiError("unknown host name", "NOT_FOUND"));
  if (path === "/healthz") {
    if (only(res, method, ["GET"])) await health(deps, res);
    return;
  }
  if (path === "/api/session") return session(deps, req, res, method);
  if (path.startsWith("/api/") || path.startsWith("/stream/")) {
    const verdict = deps.gate.authorize(req);
    if (verdict === "throttled") return sendJson(res, 429, tooManyFailures);
    if (verdict === "unauthorized") return sendJson(res, 401, apiError("log in first", "UNAUTHORIZED"));
    return api(deps, req, res, path, method);
  }
  if (!only(res, method, ["GET", "HEAD"])) return;
  const head = method === "HEAD";
  if (APP_PAGES.some((page) => page.test(path))) {
    // The page itself holds no data: without a session it shows the login form.
    if (await sendFile(res, join(deps.uiDir, "index.html"), { head, immutable: false, csp: deps.csp })) return;
    return sendText(res, 503, "The dashboard UI is not built: run `pnpm --filter @trainyard/dashboard build:ui`.\n");
  }
  const file = resolveStaticPath(deps.uiDir, path);
  if (file && (await sendFile(res, file, { head, immutable: path.startsWith("/assets/"), csp: deps.csp }))) return;
  sendText(res, 404, "not found\n");
}

async function session(deps: HttpDeps, req: IncomingMessage, res: ServerResponse, method: string): Promise<void> {
  if (!only(res, method, ["GET", "POST", "DELETE"])) return;
  const secure = isSecure(req);
  if (method === "GET") {
    const authenticated = deps.gate.authorize(req) === "allowed";
    // changing a job or handing out its files needs an operator who logged in
    const operator = authenticated && deps.access.required;
    const info: SessionInfo = {
      auth_required: deps.access.required,
      authenticated,
      can_cancel: operator && deps.gateway !== null,
      can_download: operator && deps.links !== null,
      app_url_template: authenticated ? deps.appUrlTemplate : null,
    };
    return sendJson(res, 200, info);
  }
  if (!sameOrigin(req)) return sendJson(res, 403, apiError("cross-site request refused", "UNAUTHORIZED"));
  if (method === "DELETE") return sendEmpty(res, 204, { "set-cookie": deps.access.clearCookie(secure) });
  if (!deps.access.required) return sendEmpty(res, 204);
  const client = deps.gate.client(req);
  if (deps.gate.limiter.blocked(client)) return sendJson(res, 429, tooManyFailures);
  const body = Login.safeParse(await readJson(req));
  if (!body.success || !deps.access.tokenMatches(body.data.token)) {
    deps.gate.limiter.failed(client);
    deps.log.warn({ client }, "dashboard login refused");
    return sendJson(res, 401, apiError("wrong token", "UNAUTHORIZED"));
  }
  deps.gate.limiter.succeeded(client);
  sendEmpty(res, 204, { "set-cookie": deps.access.sessionCookie(secure) });
}

async function api(
  deps: HttpDeps,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  method: string,
): Promise<void> {
  if (path === "/api/overview") {
    if (only(res, method, ["GET"])) sendJson(res, 200, await deps.overview());
    return;
  }
  if (path === "/api/jobs") {
    if (!only(res, method, ["GET"])) return;
    const [records, counts] = await Promise.all([deps.store.listNewest(LIST_LIMIT), deps.store.countByStatus()]);
    const body: JobList = { jobs: records.map(toSummary), counts };
    return sendJson(res, 200, body);
  }
  const stream = /^\/stream\/progress\/([^/]+)$/.exec(path);
  if (stream) {
    if (!only(res, method, ["GET"])) return;
    const record = await jobOf(deps, stream[1]);
    if (!record) return sendJson(res, 404, apiError("job not found", "JOB_NOT_FOUND"));
    const release = deps.gate.openLive(req, "sse");
    if (!release) return sendJson(res, 429, tooManyStreams);
    res.once("close", release);
    const lastId = Number(req.headers["last-event-id"]);
    return deps.streams.open(res, record, Number.isSafeInteger(lastId) ? lastId : null);
  }
  const match = /^\/api\/jobs\/([^/]+)(?:\/(epochs|callbacks|cancel|files\/([a-z0-9_]+)))?$/.exec(path);
  if (!match) return sendJson(res, 404, apiError("no such endpoint", "NOT_FOUND"));
  const [, id, sub, kind] = match;
  const record = await jobOf(deps, id);
  if (!record) return sendJson(res, 404, apiError(`job ${id} not found`, "JOB_NOT_FOUND"));

  switch (sub) {
    case undefined:
      if (only(res, method, ["GET"])) sendJson(res, 200, toDetail(record));
      return;
    case "epochs":
      if (!only(res, method, ["GET"])) return;
      return sendJson(res, 200, { points: (await deps.store.epochs(record._id, 0)).map(toPoint) });
    case "callbacks": {
      if (!only(res, method, ["GET"])) return;
      const logs = await deps.deliveries.forJobs([record._id]);
      return sendJson(res, 200, { deliveries: (logs.get(record._id) ?? []).map(toDeliveryView) });
    }
    case "cancel":
      if (only(res, method, ["POST"])) await cancel(deps, req, res, record._id);
      return;
    default:
      if (only(res, method, ["GET"])) download(deps, res, record, kind);
      return;
  }
}

async function cancel(deps: HttpDeps, req: IncomingMessage, res: ServerResponse, jobId: string): Promise<void> {
  if (!sameOrigin(req)) return sendJson(res, 403, apiError("cross-site request refused", "UNAUTHORIZED"));
  if (!deps.access.required) return sendJson(res, 403, operatorOnly);
  // A JSON content type cannot be sent cross-site without a CORS preflight, which is never allowed.
  await readJson(req);
  if (!deps.gateway) {
    return sendJson(res, 503, apiError("cancelling is not configured (GATEWAY_URL)", "SERVICE_UNAVAILABLE"));
  }
  const answer = await deps.gateway.cancel(jobId);
  switch (answer.kind) {
    case "cancelled":
      deps.log.info({ job_id: jobId }, "job cancelled from the dashboard");
      await deps.refreshJob(jobId);
      return sendJson(res, 200, { job_id: jobId, status: "cancelled" });
    case "not_found":
      return sendJson(res, 404, apiError("the gateway does not know this job", "JOB_NOT_FOUND"));
    case "finished":
      return sendJson(res, 409, apiError(answer.detail, "JOB_FINISHED"));
    case "failed":
      deps.log.error({ job_id: jobId, detail: answer.detail }, "cancel through the gateway failed");
      return sendJson(res, 502, apiError(answer.detail, "SERVICE_UNAVAILABLE"));
  }
}

function download(
  deps: HttpDeps,
  res: ServerResponse,
  record: Parameters<FileLinks["link"]>[0],
  kind: string | undefined,
): void {
  if (!FILE_KINDS.includes(kind as FileKind)) return sendJson(res, 404, apiError("no such file", "NOT_FOUND"));
  if (!deps.access.required) return sendJson(res, 403, operatorOnly);
  if (!deps.links) {
    return sendJson(res, 503, apiError("downloads are not configured (DOWNLOAD_URL_SECRET)", "SERVICE_UNAVAILABLE"));
  }
  const url = deps.links.link(record, kind as FileKind);
  if (!url) return sendJson(res, 404, apiError(`this job has no ${kind} file`, "NOT_FOUND"));
  sendEmpty(res, 302, { location: url });
}

async function jobOf(deps: HttpDeps, id: string | undefined) {
  return JobId.safeParse(id).success ? deps.store.get(id ?? "") : null;
}

async function health(deps: HttpDeps, res: ServerResponse): Promise<void> {
  const { mongo, nats } = await deps.health();
  sendJson(res, mongo && nats ? 200 : 503, { status: mongo && nats ? "ok" : "degraded", mongo, nats });
}

/** False (and a 405 sent) when `method` is not one of `allowed`. */
function only(res: ServerResponse, method: string, allowed: string[]): boolean {
  if (allowed.includes(method) || (method === "HEAD" && allowed.includes("GET"))) return true;
  res.setHeader("allow", allowed.join(", "));
  sendJson(res, 405, apiError(`method ${method} is not allowed here`, "METHOD_NOT_ALLOWED"));
  return false;
}
