/**
 * The gateway's OpenAPI 3.1 document, generated from the zod contracts: every schema in it comes
 * from `z.toJSONSchema`, so the document cannot drift from what the gateway validates. Only the
 * route table (methods, paths, status codes, prose) is written here.
 */
import { z } from "zod";
import { CallbackDeliveryList, CallbackId, CallbackListQuery, RedeliveryAccepted } from "./deliveries.js";
import { ApiError } from "./errors.js";
import { Health, JobCancelled, JobId, JobList, JobListQuery, JobView, TrainAccepted, TrainRequest } from "./rest.js";

/** Version of the REST contract, reported in the document's `info`. */
export const API_VERSION = "1.0.0";

export type JsonSchema = Record<string, unknown>;

export interface OpenApiParameter {
  name: string;
  in: "path" | "query";
  required: boolean;
  description?: string;
  schema: JsonSchema;
}

export interface OpenApiMediaType {
  schema: JsonSchema;
}

export interface OpenApiResponse {
  description: string;
  headers?: Record<string, { description: string; schema: JsonSchema }>;
  content?: Record<string, OpenApiMediaType>;
}

export interface OpenApiOperation {
  operationId: string;
  summary: string;
  description: string;
  tags: string[];
  /** `[]` for a public route; absent means the document's bearer security applies. */
  security?: Array<Record<string, string[]>>;
  parameters?: OpenApiParameter[];
  requestBody?: { required: boolean; content: Record<string, OpenApiMediaType> };
  responses: Record<string, OpenApiResponse>;
}

export type HttpMethod = "get" | "post" | "delete";

export interface OpenApiDocument {
  openapi: "3.1.0";
  info: { title: string; version: string; description: string };
  tags: Array<{ name: string; description: string }>;
  security: Array<Record<string, string[]>>;
  paths: Record<string, Partial<Record<HttpMethod, OpenApiOperation>>>;
  components: {
    schemas: Record<string, JsonSchema>;
    securitySchemes: Record<string, { type: "http"; scheme: "bearer"; description: string }>;
  };
}

const ref = (name: string): JsonSchema => ({ $ref: `#/components/schemas/${name}` });
const json = (name: string): Record<string, OpenApiMediaType> => ({ "application/json": { schema: ref(name) } });
const RETRY_AFTER = {
  "Retry-After": { description: "Seconds to wait before trying again.", schema: { type: "integer" } },
};

/** An error answer: an `ApiError` body; `description` names its codes. */
function failure(description: string, retryAfter = false): OpenApiResponse {
  return { description, content: json("ApiError"), ...(retryAfter ? { headers: RETRY_AFTER } : {}) };
}

const UNAUTHORIZED = failure(
  "`UNAUTHORIZED`: no `Authorization: Bearer <token>` header, or a token that is not valid.",
);
const UNAVAILABLE = failure(
  "`SERVICE_UNAVAILABLE`: NATS or MongoDB did not answer in time; nothing was changed, try again.",
  true,
);
const BAD_JOB_ID = failure("`INVALID_PARAMETER`: `job_id` is not a UUID; `errors` names the parameter.");

const PUBLIC: Array<Record<string, string[]>> = [];

/** Schemas of the request bodies (what a client may send) and of the answers (what it gets). */
const REQUEST_SCHEMAS = { TrainRequest };
const RESPONSE_SCHEMAS = {
  TrainAccepted,
  JobView,
  JobCancelled,
  JobList,
  CallbackDeliveryList,
  RedeliveryAccepted,
  Health,
  ApiError,
};

/** The OpenAPI 3.1 document of the gateway's REST API (PRD 7, 13), built from the zod contracts. */
export function openApiDocument(): OpenApiDocument {
  const jobIdParam: OpenApiParameter = {
    name: "job_id",
    in: "path",
    required: true,
    description: "The job's id, as sent in `POST /api/v1/train`.",
    schema: schemaOf(JobId, "input"),
  };
  return {
    openapi: "3.1.0",
    info: {
      title: "Trainyard training API",
      version: API_VERSION,
      description:
        "Queue YOLO training jobs, follow and cancel them (PRD 7). Routes under `/api/v1` need " +
        "`Authorization: Bearer <API token>`, except this document and its HTML page. Every error " +
        "answer is an `ApiError`: a stable `code`, a readable `detail`, and for a `400` the failing " +
        "field paths in `errors`. Progress reaches the app as signed callbacks, not through this API.",
    },
    tags: [
      { name: "jobs", description: "Training jobs (PRD 7.1–7.4)." },
      {
        name: "callbacks",
        description:
          "The delivery log of a job's signed callbacks (PRD 4.2): every attempt, and redelivery by an operator.",
      },
      { name: "operations", description: "Health, metrics and this documentation (PRD 7.5, 7.6)." },
      { name: "downloads", description: "Trained models and artifacts, through signed links from callbacks." },
    ],
    security: [{ bearerAuth: [] }],
    paths: {
      "/api/v1/train": {
        post: {
          operationId: "createTrainingJob",
          summary: "Queue a training job",
          description:
            "Validates the job, stores it as `queued` and hands it to the dataset service. The job " +
            "can be read back at once. Rate limited per client address (PRD 13.3).",
          tags: ["jobs"],
          requestBody: { required: true, content: json("TrainRequest") },
          responses: {
            "202": {
              description: "Queued; `estimated_start_time` reflects the current queue.",
              content: json("TrainAccepted"),
            },
            "400": failure(
              "`INVALID_PAYLOAD`: the body is not valid JSON or breaks the contract; `errors` lists every failing field path.",
            ),
            "401": UNAUTHORIZED,
            "409": failure("`JOB_EXISTS`: a job with this `job_id` was accepted before."),
            "413": failure("`PAYLOAD_TOO_LARGE`: the body is larger than the configured limit."),
            "415": failure("`UNSUPPORTED_MEDIA_TYPE`: the body is not `application/json` (UTF-8)."),
            "429": failure("`RATE_LIMITED`: too many submissions from this client; see `Retry-After`.", true),
            "503": failure("`QUEUE_FULL`: too many jobs are waiting; or `SERVICE_UNAVAILABLE`.", true),
          },
        },
      },
      "/api/v1/jobs": {
        get: {
          operationId: "listJobs",
          summary: "List jobs, newest first",
          description: "One page of the jobs, newest first, and how many match in all. Unknown parameters are ignored.",
          tags: ["jobs"],
          parameters: queryParameters(JobListQuery, {
            status: "Only jobs in this status.",
            limit: "Page size.",
            offset: "Jobs to skip, for paging.",
          }),
          responses: {
            "200": { description: "A page of jobs.", content: json("JobList") },
            "400": failure(
              "`INVALID_PARAMETER`: a query parameter is out of range or of the wrong type; `errors` names it.",
            ),
            "401": UNAUTHORIZED,
            "503": UNAVAILABLE,
          },
        },
      },
      "/api/v1/jobs/{job_id}": {
        get: {
          operationId: "getJob",
          summary: "Read a job",
          description: "Status, progress, epoch, latest metrics and ETA of one job (PRD 7.2).",
          tags: ["jobs"],
          parameters: [jobIdParam],
          responses: {
            "200": { description: "The job.", content: json("JobView") },
            "400": BAD_JOB_ID,
            "401": UNAUTHORIZED,
            "404": failure("`JOB_NOT_FOUND`: no job has this id."),
            "503": UNAVAILABLE,
          },
        },
        delete: {
          operationId: "cancelJob",
          summary: "Cancel a job",
          description:
            "Cancels a job in any unfinished state (PRD 7.3, 17.4): a waiting job is cancelled at " +
            "once, a training job's trainer process is stopped and its partial metrics and logs " +
            "are kept. The app receives a `training_failed` callback with code `CANCELLED`. " +
            "Cancelling a cancelled job answers the same again.",
          tags: ["jobs"],
          parameters: [jobIdParam],
          responses: {
            "200": { description: "Cancelled (now or before).", content: json("JobCancelled") },
            "400": BAD_JOB_ID,
            "401": UNAUTHORIZED,
            "404": failure("`JOB_NOT_FOUND`: no job has this id."),
            "409": failure("`JOB_FINISHED`: the job already completed or failed."),
            "503": UNAVAILABLE,
          },
        },
      },
      "/api/v1/jobs/{job_id}/callbacks": {
        get: {
          operationId: "listJobCallbacks",
          summary: "List the callbacks of a job with their attempts",
          description:
            "Every callback of the job in the job's order (the order they are delivered in): its " +
            "`webhook-id`, type, status (`pending`, `retrying`, `delivered`, `dead_lettered` after " +
            "the last attempt of the retry schedule, `gone` after a 410, `superseded` when a stale " +
            "progress callback was folded into a newer one while the receiver failed), the exact " +
            "body sent, and each attempt's time, HTTP status, latency and error.",
          tags: ["callbacks"],
          parameters: [
            jobIdParam,
            ...queryParameters(CallbackListQuery, {
              status: "Only callbacks in this status.",
              limit: "Page size.",
              offset: "Callbacks to skip, for paging.",
            }),
          ],
          responses: {
            "200": { description: "A page of the job's callbacks.", content: json("CallbackDeliveryList") },
            "400": failure("`INVALID_PARAMETER`: `job_id` or a query parameter is invalid; `errors` names it."),
            "401": UNAUTHORIZED,
            "404": failure("`JOB_NOT_FOUND`: no job has this id."),
            "503": UNAVAILABLE,
          },
        },
      },
      "/api/v1/jobs/{job_id}/callbacks/{callback_id}/redeliver": {
        post: {
          operationId: "redeliverJobCallback",
          summary: "Send a callback again",
          description:
            "Asks the notifier to send a logged callback again (typically a dead-lettered one), " +
            "with the same `webhook-id` and body and a fresh retry schedule, in its job's order. " +
            "Accepted at once; follow it in the callback list. No request body.",
          tags: ["callbacks"],
          parameters: [
            jobIdParam,
            {
              name: "callback_id",
              in: "path",
              required: true,
              description: "The callback's `webhook-id`, as listed.",
              schema: schemaOf(CallbackId, "input"),
            },
          ],
          responses: {
            "202": { description: "Redelivery requested.", content: json("RedeliveryAccepted") },
            "400": failure("`INVALID_PARAMETER`: `job_id` or `callback_id` is malformed; `errors` names it."),
            "401": UNAUTHORIZED,
            "404": failure("`CALLBACK_NOT_FOUND`: the job has no callback with this id."),
            "409": failure(
              "`JOB_FINISHED`: a progress callback of a job whose terminal callback was delivered: it would arrive after the end.",
            ),
            "503": UNAVAILABLE,
          },
        },
      },
      "/health": {
        get: {
          operationId: "getHealth",
          summary: "Health check",
          description:
            "Checks NATS (a round trip), MongoDB (a ping) and the live trainer-agents, each within a short timeout.",
          tags: ["operations"],
          security: PUBLIC,
          responses: {
            "200": { description: "`healthy`, or `degraded` when no trainer-agent is live.", content: json("Health") },
            "503": { description: "`unhealthy`: NATS or MongoDB is down.", content: json("Health") },
          },
        },
      },
      "/metrics": {
        get: {
          operationId: "getMetrics",
          summary: "Prometheus metrics",
          description:
            "Prometheus text format (PRD 7.6, 10.2): `training_jobs_total{status}`, " +
            "`training_duration_seconds`, `gpu_utilization_percent`, `gpu_memory_used_bytes`, " +
            "`gpu_temperature_celsius` (labelled by `device` and `agent`), `active_training_jobs`, `queue_size`.",
          tags: ["operations"],
          security: PUBLIC,
          responses: {
            "200": { description: "The metrics.", content: { "text/plain": { schema: { type: "string" } } } },
            "503": UNAVAILABLE,
          },
        },
      },
      "/api/v1/openapi.json": {
        get: {
          operationId: "getOpenApiDocument",
          summary: "This OpenAPI document",
          description: "Generated from the contract schemas.",
          tags: ["operations"],
          security: PUBLIC,
          responses: {
            "200": { description: "The document.", content: { "application/json": { schema: { type: "object" } } } },
          },
        },
      },
      "/api/v1/docs": {
        get: {
          operationId: "getApiDocs",
          summary: "Readable API reference",
          description: "An HTML page rendered from this document.",
          tags: ["operations"],
          security: PUBLIC,
          responses: { "200": { description: "The page.", content: { "text/html": { schema: { type: "string" } } } } },
        },
      },
      "/models/{job_id}.pt": {
        get: {
          operationId: "downloadModel",
          summary: "Download a trained model",
          description: "`best.pt` of a completed job, through the signed link of its `training_completed` callback.",
          tags: ["downloads"],
          security: PUBLIC,
          parameters: [jobIdParam, ...SIGNATURE_PARAMETERS],
          responses: DOWNLOAD_RESPONSES,
        },
      },
      "/artifacts/{job_id}/{file}": {
        get: {
          operationId: "downloadArtifact",
          summary: "Download a training artifact",
          description: "A plot, `results.csv` or the training log, through a signed link from a callback.",
          tags: ["downloads"],
          security: PUBLIC,
          parameters: [
            jobIdParam,
            {
              name: "file",
              in: "path",
              required: true,
              description: "Artifact file name.",
              schema: { type: "string", pattern: "^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}$" },
            },
            ...SIGNATURE_PARAMETERS,
          ],
          responses: DOWNLOAD_RESPONSES,
        },
      },
    },
    components: {
      schemas: componentSchemas(),
      securitySchemes: {
        bearerAuth: {
          type: "http",
          scheme: "bearer",
          description: "One of the gateway's configured API tokens (`API_SECRETS`).",
        },
      },
    },
  };
}

const SIGNATURE_PARAMETERS: OpenApiParameter[] = [
  { name: "expires", in: "query", required: true, description: "Expiry, Unix seconds.", schema: { type: "string" } },
  {
    name: "signature",
    in: "query",
    required: true,
    description: "HMAC-SHA256 of path and expiry.",
    schema: { type: "string" },
  },
];

const DOWNLOAD_RESPONSES: Record<string, OpenApiResponse> = {
  "200": {
    description: "The file.",
    content: { "application/octet-stream": { schema: { type: "string", contentEncoding: "binary" } } },
  },
  "403": failure("`UNAUTHORIZED`: the link is not signed, forged or expired."),
  "404": failure("`NOT_FOUND`: no such file."),
  "503": UNAVAILABLE,
};

/** `http`/`https` URLs: zod checks the protocol, JSON Schema only says `uri` unless told. */
function override(ctx: { zodSchema: unknown; jsonSchema: JsonSchema }): void {
  const def = (ctx.zodSchema as { _zod?: { def?: { format?: string; protocol?: RegExp } } })._zod?.def;
  if (def?.format === "url" && def.protocol) {
    const protocols = def.protocol.source.replace(/^\^/, "").replace(/\$$/, "");
    ctx.jsonSchema.pattern = `^(${protocols})://`;
  }
}

function schemaOf(schema: z.ZodType, io: "input" | "output"): JsonSchema {
  const { $schema: _schema, ...rest } = z.toJSONSchema(schema, { io, override }) as JsonSchema;
  return rest;
}

function componentSchemas(): Record<string, JsonSchema> {
  const uri = (id: string) => `#/components/schemas/${id}`;
  const collect = (schemas: Record<string, z.ZodType>, io: "input" | "output") => {
    const registry = z.registry<{ id: string }>();
    for (const [id, schema] of Object.entries(schemas)) registry.add(schema, { id });
    return z.toJSONSchema(registry, { io, uri, override }).schemas;
  };
  const all = { ...collect(REQUEST_SCHEMAS, "input"), ...collect(RESPONSE_SCHEMAS, "output") };
  const out: Record<string, JsonSchema> = {};
  for (const id of Object.keys(all).sort()) {
    const { $schema: _schema, $id: _id, ...schema } = all[id] as JsonSchema;
    out[id] = schema;
  }
  return out;
}

/** One OpenAPI query parameter per field of `schema`, each with its own JSON Schema. */
function queryParameters(schema: z.ZodObject, descriptions: Record<string, string>): OpenApiParameter[] {
  const object = z.toJSONSchema(schema, { io: "input", override }) as {
    properties?: Record<string, JsonSchema>;
    required?: string[];
  };
  return Object.entries(object.properties ?? {}).map(([name, property]) => ({
    name,
    in: "query" as const,
    required: object.required?.includes(name) ?? false,
    ...(descriptions[name] ? { description: descriptions[name] } : {}),
    schema: property,
  }));
}
