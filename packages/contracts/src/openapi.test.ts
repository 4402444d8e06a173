import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { ApiErrorCode } from "./errors.js";
import { openApiDocument, type JsonSchema } from "./openapi.js";
import { JobListQuery } from "./rest.js";

const doc = openApiDocument();
const operations = Object.entries(doc.paths).flatMap(([path, item]) =>
  Object.entries(item).map(([method, op]) => ({ path, method, op })),
);

/** Every `$ref` anywhere below `node`. */
function refs(node: unknown): string[] {
  if (Array.isArray(node)) return node.flatMap(refs);
  if (typeof node !== "object" || node === null) return [];
  return Object.entries(node as JsonSchema).flatMap(([key, value]) =>
    key === "$ref" && typeof value === "string" ? [value] : refs(value),
  );
}

describe("openApiDocument", () => {
  test("is OpenAPI 3.1 with the bearer scheme applied by default", () => {
    assert.equal(doc.openapi, "3.1.0");
    assert.deepEqual(doc.security, [{ bearerAuth: [] }]);
    assert.deepEqual(doc.components.securitySchemes.bearerAuth?.scheme, "bearer");
  });

  test("covers every route of the gateway, each with a unique operationId", () => {
    const routes = operations.map(({ method, path }) => `${method.toUpperCase()} ${path}`).sort();
    assert.deepEqual(routes, [
      "DELETE /api/v1/jobs/{job_id}",
      "GET /api/v1/docs",
      "GET /api/v1/jobs",
      "GET /api/v1/jobs/{job_id}",
      "GET /api/v1/jobs/{job_id}/callbacks",
      "GET /api/v1/openapi.json",
      "GET /artifacts/{job_id}/{file}",
      "GET /health",
      "GET /metrics",
      "GET /models/{job_id}.pt",
      "POST /api/v1/jobs/{job_id}/callbacks/{callback_id}/redeliver",
      "POST /api/v1/train",
    ]);
    const ids = operations.map(({ op }) => op.operationId);
    assert.equal(new Set(ids).size, ids.length, "expected unique operationIds");
  });

  test("every $ref resolves to a component schema", () => {
    for (const ref of refs(doc)) {
      const name = ref.replace("#/components/schemas/", "");
      assert.ok(doc.components.schemas[name], `expected ${ref} to resolve`);
    }
  });

  test("every path template parameter is declared as a required path parameter", () => {
    for (const { path, op } of operations) {
      for (const [, name] of path.matchAll(/\{([^}]+)\}/g)) {
        const param = op.parameters?.find((p) => p.name === name && p.in === "path");
        assert.ok(param?.required, `expected ${path} to declare path parameter ${name}`);
      }
    }
  });

  test("the API routes need the token, the operational ones are public", () => {
    for (const { path, op } of operations) {
      const isPublic = op.security?.length === 0;
      const expectPublic = !/^\/api\/v1\/(train|jobs)/.test(path);
      assert.equal(isPublic, expectPublic, `expected ${path} to be ${expectPublic ? "public" : "authenticated"}`);
      if (!expectPublic) assert.ok(op.responses["401"], `expected ${path} to document 401`);
    }
  });

  test("POST /api/v1/train documents each status code of PRD 7.1 and 13", () => {
    const post = doc.paths["/api/v1/train"]?.post;
    assert.deepEqual(Object.keys(post?.responses ?? {}).sort(), [
      "202",
      "400",
      "401",
      "409",
      "413",
      "415",
      "429",
      "503",
    ]);
    assert.ok(post?.responses["429"]?.headers?.["Retry-After"], "expected Retry-After on 429");
  });

  test("the list parameters come from JobListQuery, with their bounds and defaults", () => {
    const params = doc.paths["/api/v1/jobs"]?.get?.parameters ?? [];
    assert.deepEqual(
      params.map((p) => p.name),
      Object.keys(JobListQuery.shape),
    );
    const limit = params.find((p) => p.name === "limit")?.schema;
    assert.deepEqual(
      { min: limit?.minimum, max: limit?.maximum, default: limit?.default, type: limit?.type },
      { min: 1, max: 100, default: 50, type: "integer" },
    );
  });

  test("ApiError lists every error code, and URLs are restricted to http(s)", () => {
    const code = (doc.components.schemas.ApiError?.properties as Record<string, JsonSchema>).code;
    assert.deepEqual(code?.enum, ApiErrorCode.options);
    const request = doc.components.schemas.TrainRequest?.properties as Record<string, JsonSchema>;
    assert.equal(request.callback_url?.pattern, "^(https?)://");
  });

  test("the committed openapi.json is the generated document (CI also runs generate check)", () => {
    const committed: unknown = JSON.parse(readFileSync(new URL("../openapi.json", import.meta.url), "utf8"));
    assert.deepEqual(committed, JSON.parse(JSON.stringify(doc)), "run pnpm --filter @trainyard/contracts generate");
  });
});
