/**
 * A table of malformed requests against the running gateway (real NATS and FerretDB): each gets
 * its documented 4xx, an ApiError naming the failing field, and never an echo of the secret.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { ApiErrorCode, TrainRequest } from "@trainyard/contracts";
import { JOBS_COLLECTION } from "@trainyard/contracts";
import { call, expectError, newRequest, startHarness, type CallOptions, type Harness } from "./testing/harness.js";

/** Any JSON-ish value, to put where the contract wants something else. */
type Json = unknown;

interface Case {
  what: string;
  method?: string;
  path?: string;
  /** A change to a valid request: the value at a dotted path, `undefined` to remove it. */
  set?: [string, Json];
  opts?: CallOptions;
  status: number;
  code: ApiErrorCode;
  /** The field path the error must name (alone). */
  field: string;
}

const SECRET = "sk_live_do_not_echo_0123456789";

function mutate(request: TrainRequest, path: string, value: Json): Json {
  const copy = structuredClone(request) as unknown as Record<string, Json>;
  const keys = path.split(".");
  let node = copy;
  for (const key of keys.slice(0, -1)) node = node[key] as Record<string, Json>;
  const last = keys[keys.length - 1] ?? "";
  if (value === undefined) delete node[last];
  else node[last] = value;
  return copy;
}

const body = (what: string, path: string, value: Json, field = path): Case => ({
  what,
  set: [path, value],
  status: 400,
  code: "INVALID_PAYLOAD",
  field,
});
const query = (what: string, qs: string, field: string): Case => ({
  what,
  method: "GET",
  path: `/api/v1/jobs?${qs}`,
  status: 400,
  code: "INVALID_PARAMETER",
  field,
});
const raw = (what: string, opts: CallOptions, status: number, code: ApiErrorCode): Case => ({
  what,
  opts,
  status,
  code,
  field: "(body)",
});

const CASES: Case[] = [
  // identity and callback
  body("a numeric job_id", "job_id", 123),
  body("a job_id that is not a UUID", "job_id", "job-1"),
  body("a job_id that is almost a UUID", "job_id", "550e8400-e29b-41d4-a716-44665544000"),
  body("no job_id", "job_id", undefined),
  body("an ftp callback_url", "callback_url", "ftp://app.example.com/hook"),
  body("a javascript: callback_url", "callback_url", "javascript:alert(1)"),
  body("a callback_url that is no URL", "callback_url", "not a url"),
  body("a file: dataset.url", "dataset.url", "file:///etc/passwd"),
  body("a dataset.url that is a number", "dataset.url", 42),
  body("no dataset.url", "dataset.url", undefined),
  body("an empty callback_secret", "callback_secret", ""),
  body("a numeric callback_secret", "callback_secret", 12345),
  body("a huge callback_secret", "callback_secret", `${SECRET}${"y".repeat(600)}`),
  // model_config
  body("model_config as a string", "model_config", "yolov8n"),
  body("no model_config", "model_config", undefined),
  body("an empty model name", "model_config.name", ""),
  body("a base_model that is a path", "model_config.base_model", "../../etc/passwd.pt"),
  body("a base_model that is a URL", "model_config.base_model", "https://evil.example.com/x.pt"),
  body("zero epochs", "model_config.epochs", 0),
  body("negative epochs", "model_config.epochs", -5),
  body("a billion epochs", "model_config.epochs", 1e9),
  body("fractional epochs", "model_config.epochs", 2.5),
  body("epochs as a string", "model_config.epochs", "100"),
  body("a zero batch size", "model_config.batch_size", 0),
  body("a negative batch size", "model_config.batch_size", -16),
  body("a huge batch size", "model_config.batch_size", 1_000_000),
  body("a zero image size", "model_config.image_size", 0),
  body("an image size below 32", "model_config.image_size", 31),
  body("a huge image size", "model_config.image_size", 100_000),
  body("a zero learning rate", "model_config.learning_rate", 0),
  body("a negative learning rate", "model_config.learning_rate", -0.01),
  body("a learning rate above 1", "model_config.learning_rate", 5),
  body("an unknown optimizer", "model_config.optimizer", "SuperAdam"),
  body("augmentation hsv_h above 1", "model_config.augmentation.hsv_h", 1.5),
  body("augmentation fliplr below 0", "model_config.augmentation.fliplr", -0.1),
  body("augmentation degrees beyond 180", "model_config.augmentation.degrees", 720),
  body("augmentation mosaic as text", "model_config.augmentation.mosaic", "yes"),
  body("augmentation perspective out of range", "model_config.augmentation.perspective", 0.5),
  body("augmentation as a list", "model_config.augmentation", [0.5]),
  // dataset and resources
  body("an unknown dataset format", "dataset.format", "coco"),
  body("dataset as a string", "dataset", "https://datasets.example.com/x.zip"),
  body(
    "expected_structure with a non-boolean",
    "dataset.expected_structure",
    { "data.yaml": "yes" },
    "dataset.expected_structure.data.yaml",
  ),
  body("an unknown device", "resources.device", "tpu:0"),
  body("negative workers", "resources.workers", -1),
  body("zero max_memory_gb", "resources.max_memory_gb", 0),
  // whole bodies
  {
    what: "a JSON array body",
    opts: { raw: "[]" },
    status: 400,
    code: "INVALID_PAYLOAD",
    field: "(body)",
  },
  raw("a JSON null body (not an object)", { raw: "null" }, 400, "INVALID_PAYLOAD"),
  raw("truncated JSON", { raw: '{"job_id": ' }, 400, "INVALID_PAYLOAD"),
  raw("JSON with a trailing comma", { raw: '{"job_id": "x",}' }, 400, "INVALID_PAYLOAD"),
  raw("no body at all", {}, 400, "INVALID_PAYLOAD"),
  raw("a text/plain body", { raw: "hello", contentType: "text/plain" }, 415, "UNSUPPORTED_MEDIA_TYPE"),
  raw(
    "a form body",
    { raw: "job_id=1", contentType: "application/x-www-form-urlencoded" },
    415,
    "UNSUPPORTED_MEDIA_TYPE",
  ),
  raw("JSON without a Content-Type", { raw: "{}", contentType: null }, 415, "UNSUPPORTED_MEDIA_TYPE"),
  raw("a Latin-1 body", { raw: "{}", contentType: "application/json; charset=latin1" }, 415, "UNSUPPORTED_MEDIA_TYPE"),
  raw(
    "an unknown Content-Encoding",
    { raw: "{}", headers: { "content-encoding": "x-unknown" } },
    415,
    "UNSUPPORTED_MEDIA_TYPE",
  ),
  raw("a body over the size limit", { raw: JSON.stringify({ pad: "x".repeat(100 * 1024) }) }, 413, "PAYLOAD_TOO_LARGE"),
  // query parameters
  query("limit 0", "limit=0", "limit"),
  query("a negative limit", "limit=-1", "limit"),
  query("limit above 100", "limit=101", "limit"),
  query("a huge limit", "limit=99999999999999999999", "limit"),
  query("a fractional limit", "limit=1.5", "limit"),
  query("limit in exponent notation", "limit=1e1", "limit"),
  query("a limit that is a word", "limit=ten", "limit"),
  query("an empty limit", "limit=", "limit"),
  query("a negative offset", "offset=-1", "offset"),
  query("an offset past a million", "offset=1000001", "offset"),
  query("an unknown status", "status=running", "status"),
  query("status given twice", "status=queued&status=failed", "status"),
  // path parameters
  {
    what: "GET a job id that is no UUID",
    method: "GET",
    path: "/api/v1/jobs/abc",
    status: 400,
    code: "INVALID_PARAMETER",
    field: "job_id",
  },
  {
    what: "DELETE a job id that is no UUID",
    method: "DELETE",
    path: "/api/v1/jobs/1",
    status: 400,
    code: "INVALID_PARAMETER",
    field: "job_id",
  },
  {
    what: "a broken percent-encoding",
    method: "GET",
    path: "/api/v1/jobs/%E0%A4%A",
    status: 400,
    code: "INVALID_PARAMETER",
    field: "(url)",
  },
];

describe("malformed requests", () => {
  let h: Harness;

  before(async () => {
    h = await startHarness();
  });

  after(async () => {
    await h?.close();
  });

  test(`the table has at least 40 cases (${CASES.length})`, () => {
    assert.ok(CASES.length >= 40);
  });

  for (const c of CASES) {
    test(`${c.what}: ${c.status} ${c.code} naming ${c.field}`, async () => {
      const request = newRequest({ callback_secret: SECRET });
      const opts: CallOptions = c.set ? { body: mutate(request, ...c.set), ...c.opts } : { ...c.opts };
      const res = await call(h, c.method ?? "POST", c.path ?? "/api/v1/train", opts);
      const error = expectError(res, c.status, c.code, c.what);
      const paths = [...new Set((error.errors ?? []).map((e) => e.path))];
      assert.deepEqual(paths, [c.field], `expected the error to name ${c.field}, got ${JSON.stringify(error.errors)}`);
      assert.ok(
        error.errors?.every((e) => e.message.length > 0),
        "expected a message for every failing field",
      );
      assert.ok(!res.text.includes(SECRET), "expected the callback secret nowhere in the answer");
      if (c.set) {
        const stored = await h.jobs.findOne({ _id: request.job_id });
        assert.equal(stored, null, `expected nothing stored in ${JOBS_COLLECTION}`);
      }
    });
  }
});
