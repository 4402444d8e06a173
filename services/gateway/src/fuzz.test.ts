/**
 * Property-based: random JSON, random bodies, ids, query strings, methods and paths thrown at
 * every endpoint of the running gateway (real NATS and FerretDB). Whatever comes in, the answer
 * is never a 5xx, every error is an ApiError, and the process keeps serving.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import fc from "fast-check";
import { ApiError } from "@trainyard/contracts";
import {
  API_TOKEN,
  call,
  newRequest,
  startHarness,
  type Answer,
  type CallOptions,
  type Harness,
} from "./testing/harness.js";

/** Runs per property: enough to hit every branch, quick on a 2-core machine. */
const RUNS = 200;

/** Every field path of a TrainRequest, where a mutation puts a random value (or removes it). */
const REQUEST_PATHS = [
  "job_id",
  "callback_url",
  "callback_secret",
  "model_config",
  "model_config.name",
  "model_config.base_model",
  "model_config.epochs",
  "model_config.batch_size",
  "model_config.image_size",
  "model_config.learning_rate",
  "model_config.optimizer",
  "model_config.augmentation",
  "model_config.augmentation.hsv_h",
  "model_config.augmentation.degrees",
  "model_config.augmentation.perspective",
  "model_config.augmentation.mixup",
  "dataset",
  "dataset.url",
  "dataset.format",
  "dataset.expected_structure",
  "resources",
  "resources.device",
  "resources.workers",
  "resources.max_memory_gb",
  "__proto__",
  "constructor",
  "extra",
];

const jsonValue = fc.jsonValue({ maxDepth: 4 });

/** A valid request with up to four fields replaced by random JSON or removed. */
const mutatedRequest = fc
  .tuple(
    fc.uuid(),
    fc.array(fc.tuple(fc.constantFrom(...REQUEST_PATHS), fc.option(jsonValue, { nil: undefined })), {
      minLength: 0,
      maxLength: 4,
    }),
  )
  .map(([jobId, mutations]) => {
    const request = JSON.parse(JSON.stringify(newRequest({ job_id: jobId }))) as Record<string, unknown>;
    for (const [path, value] of mutations) {
      const keys = path.split(".");
      let node: unknown = request;
      for (const key of keys.slice(0, -1))
        node = typeof node === "object" && node !== null ? (node as Record<string, unknown>)[key] : undefined;
      if (typeof node !== "object" || node === null) continue;
      const last = keys[keys.length - 1] ?? "";
      if (value === undefined) delete (node as Record<string, unknown>)[last];
      else Object.defineProperty(node, last, { value, enumerable: true, writable: true, configurable: true });
    }
    return JSON.stringify(request);
  });

const token = fc.constantFrom<string | null>(API_TOKEN, API_TOKEN, API_TOKEN, null, "not-the-token-0123456789");
const contentType = fc.constantFrom<string | null>(
  "application/json",
  "application/json",
  "application/json; charset=utf-8",
  "application/json; charset=utf-16",
  "text/plain",
  "multipart/form-data; boundary=x",
  null,
);
const anyMethod = fc.constantFrom("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS");

/** Text that may hold broken percent-encodings, for paths and query strings. */
const urlText = fc.string({ unit: fc.constantFrom(..."abcXYZ019%-._~+=&?/[]{}:@!$'()*,;".split("")), maxLength: 30 });
const pathSegment = fc.oneof(
  fc.uuid(),
  fc.string({ maxLength: 40 }).map(encodeURIComponent),
  fc.string({ unit: "binary", maxLength: 20 }).map(encodeURIComponent),
  urlText,
);

/** A query string from random parameters (known names more often), repeated names included. */
const queryString = fc.oneof(
  fc
    .array(
      fc.tuple(
        fc.oneof(fc.constantFrom("status", "limit", "offset"), fc.string({ maxLength: 8 })),
        fc.oneof(
          fc.constantFrom("queued", "training", "completed", "0", "1", "50", "100", "101", "-1", "1e3", ""),
          fc.integer().map(String),
          fc.double().map(String),
          fc.string({ maxLength: 20 }),
        ),
      ),
      { maxLength: 5 },
    )
    .map((pairs) => new URLSearchParams(pairs).toString()),
  urlText,
);

const body = fc.oneof(
  mutatedRequest,
  mutatedRequest,
  jsonValue.map((v) => JSON.stringify(v)),
  fc.string({ maxLength: 200 }),
  fc.string({ unit: "binary", maxLength: 200 }),
);

function checkAnswer(method: string, res: Answer, what: string): void {
  assert.ok(res.status < 500, `expected no 5xx for ${what}, got ${res.status}: ${res.text.slice(0, 300)}`);
  const json = (res.headers.get("content-type") ?? "").startsWith("application/json");
  // a HEAD answer has the headers of the GET answer but no body
  if (res.status >= 400 && json && method !== "HEAD") {
    assert.ok(ApiError.safeParse(res.body).success, `expected an ApiError for ${what}, got ${res.text.slice(0, 300)}`);
  }
}

describe("random input never gets a 5xx", () => {
  let h: Harness;

  before(async () => {
    h = await startHarness();
  });

  after(async () => {
    // the process survived it all and still serves
    const health = await call(h, "GET", "/health", { token: null });
    assert.ok(health.status === 200, `expected the gateway healthy after the fuzzing, got ${health.status}`);
    await h?.close();
  });

  /** Statuses seen, to prove the generators reach past the first check. */
  const seen = new Set<number>();

  async function send(method: string, path: string, opts: CallOptions): Promise<void> {
    const res = await call(h, method, path, opts);
    seen.add(res.status);
    checkAnswer(method, res, `${method} ${path} ${JSON.stringify(opts).slice(0, 300)}`);
  }

  test("POST /api/v1/train with random bodies, content types and tokens", async () => {
    seen.clear();
    await fc.assert(
      fc.asyncProperty(body, contentType, token, (raw, type, auth) =>
        send("POST", "/api/v1/train", { raw, contentType: type, token: auth }),
      ),
      { numRuns: RUNS },
    );
    for (const status of [202, 400, 401, 415]) {
      assert.ok(seen.has(status), `expected the random requests to reach a ${status}, saw ${[...seen].join(", ")}`);
    }
  });

  test("GET and DELETE /api/v1/jobs/{id} with random ids", async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom("GET", "DELETE"), pathSegment, token, (method, id, auth) =>
        send(method, `/api/v1/jobs/${id}`, { token: auth }),
      ),
      { numRuns: RUNS },
    );
  });

  test("GET /api/v1/jobs with random query strings", async () => {
    await fc.assert(
      fc.asyncProperty(queryString, token, (qs, auth) => send("GET", `/api/v1/jobs?${qs}`, { token: auth })),
      { numRuns: RUNS },
    );
  });

  test("the public routes with random methods, queries and bodies", async () => {
    const routes = fc.constantFrom("/health", "/metrics", "/api/v1/openapi.json", "/api/v1/docs");
    await fc.assert(
      fc.asyncProperty(anyMethod, routes, queryString, fc.option(body, { nil: undefined }), (method, route, qs, raw) =>
        send(method, `${route}?${qs}`, {
          token: null,
          ...(raw !== undefined && method !== "GET" && method !== "HEAD" ? { raw } : {}),
        }),
      ),
      { numRuns: RUNS },
    );
  });

  test("download links with random ids, files and signatures", async () => {
    const link = fc.oneof(
      fc.tuple(pathSegment, queryString).map(([id, qs]) => `/models/${id}.pt?${qs}`),
      fc.tuple(fc.uuid(), pathSegment, queryString).map(([id, file, qs]) => `/artifacts/${id}/${file}?${qs}`),
    );
    await fc.assert(
      fc.asyncProperty(link, (path) => send("GET", path, { token: null })),
      { numRuns: RUNS },
    );
  });

  test("random methods on random paths", async () => {
    const path = fc
      .array(pathSegment, { minLength: 0, maxLength: 4 })
      .chain((segments) => fc.constantFrom(`/api/v1/${segments.join("/")}`, `/${segments.join("/")}`));
    await fc.assert(
      fc.asyncProperty(anyMethod, path, token, fc.option(body, { nil: undefined }), (method, p, auth, raw) =>
        send(method, p, {
          token: auth,
          ...(raw !== undefined && method !== "GET" && method !== "HEAD" ? { raw } : {}),
        }),
      ),
      { numRuns: RUNS },
    );
  });
});
