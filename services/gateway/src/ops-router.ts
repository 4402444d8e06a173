import { Router } from "express";
import type { OpenApiDocument } from "@trainyard/contracts";
import type { Bus } from "./adapters/bus.js";
import type { JobStore } from "./adapters/job-store.js";
import { allowOnly } from "./api-router.js";
import { renderApiDocs } from "./api-docs.js";
import { checkHealth } from "./health.js";
import { collectMetrics } from "./metrics.js";
import { renderPrometheus } from "./prometheus.js";

export interface OpsDeps {
  store: JobStore;
  bus: Bus;
  version: string;
  healthTimeoutMs: number;
  openApi: OpenApiDocument;
  now(): Date;
}

/**
 * Public routes, no token: health and metrics (PRD 7.5, 7.6, outside /api as the PRD places
 * them), and the API's own documentation.
 */
export function opsRouter(deps: OpsDeps): Router {
  const router = Router();
  const docsPage = renderApiDocs(deps.openApi);

  router.get("/health", async (_req, res) => {
    const { httpStatus, body } = await checkHealth({ ...deps, timeoutMs: deps.healthTimeoutMs });
    res.setHeader("Cache-Control", "no-store");
    res.status(httpStatus).json(body);
  });

  router.get("/metrics", async (_req, res) => {
    const text = renderPrometheus(await collectMetrics(deps));
    res.setHeader("Cache-Control", "no-store");
    res.type("text/plain; version=0.0.4; charset=utf-8").send(text);
  });

  router.get("/api/v1/openapi.json", (_req, res) => {
    res.json(deps.openApi);
  });

  router.get("/api/v1/docs", (_req, res) => {
    res.setHeader("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'");
    res.type("html").send(docsPage);
  });

  for (const path of ["/health", "/metrics", "/api/v1/openapi.json", "/api/v1/docs"]) allowOnly(router, path, ["GET"]);
  return router;
}
