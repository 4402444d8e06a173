import type { RequestHandler } from "express";

const ALLOWED_METHODS = "GET, POST, DELETE";
const ALLOWED_HEADERS = "Authorization, Content-Type";
const EXPOSED_HEADERS = "Retry-After, WWW-Authenticate";
const PREFLIGHT_MAX_AGE_S = 600;

/**
 * CORS for the app's origins (PRD 17.7): a browser on a listed origin may call the API with a
 * bearer token; any other origin gets no CORS headers, so its browser blocks the answer.
 * Preflight requests are answered here, before authentication, as browsers send them without
 * credentials. No cookies are used, so credentials are never allowed.
 */
export function cors(allowedOrigins: readonly string[]): RequestHandler {
  const allowed = new Set(allowedOrigins);
  return (req, res, next) => {
    const origin = req.header("origin");
    if (allowed.size > 0) res.vary("Origin");
    const listed = origin !== undefined && allowed.has(origin);
    if (listed) {
      res.setHeader("Access-Control-Allow-Origin", origin);
      res.setHeader("Access-Control-Expose-Headers", EXPOSED_HEADERS);
    }
    const preflight = req.method === "OPTIONS" && origin !== undefined && req.header("access-control-request-method");
    if (!preflight) return next();
    if (listed) {
      res.setHeader("Access-Control-Allow-Methods", ALLOWED_METHODS);
      res.setHeader("Access-Control-Allow-Headers", ALLOWED_HEADERS);
      res.setHeader("Access-Control-Max-Age", String(PREFLIGHT_MAX_AGE_S));
    }
    res.status(204).end();
  };
}
