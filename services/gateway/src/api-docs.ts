import type { JsonSchema, OpenApiDocument, OpenApiOperation } from "@trainyard/contracts";

const METHODS = ["get", "post", "delete"] as const;

/** One row of a schema summary: a dotted field path and what it accepts. */
interface FieldRow {
  path: string;
  type: string;
  required: boolean;
  rules: string;
}

/**
 * The human-readable API reference at GET /api/v1/docs, rendered on the server from the OpenAPI
 * document: each operation with its parameters, request fields and answers. Self-contained (no
 * scripts, no external assets), every value HTML-escaped.
 */
export function renderApiDocs(doc: OpenApiDocument): string {
  const operations: string[] = [];
  const toc: string[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      toc.push(
        `<li><a href="#${esc(op.operationId)}"><code>${method.toUpperCase()} ${esc(path)}</code></a> ${esc(op.summary)}</li>`,
      );
      operations.push(renderOperation(doc, method, path, op));
    }
  }
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(doc.info.title)} ${esc(doc.info.version)}</title>
<style>${STYLE}</style>
</head>
<body>
<header><h1>${esc(doc.info.title)} <small>${esc(doc.info.version)}</small></h1>
<p>${inline(doc.info.description)}</p>
<p>Machine-readable: <a href="/api/v1/openapi.json">/api/v1/openapi.json</a> (OpenAPI ${esc(doc.openapi)}).</p></header>
<nav><h2>Operations</h2><ul>${toc.join("")}</ul></nav>
<section id="errors"><h2>Error answers</h2><p>Every error is an <code>ApiError</code>:</p>${fieldTable(fieldRows(doc, { $ref: "#/components/schemas/ApiError" }))}</section>
<main>${operations.join("\n")}</main>
</body>
</html>
`;
}

function renderOperation(doc: OpenApiDocument, method: string, path: string, op: OpenApiOperation): string {
  const parts = [
    `<section id="${esc(op.operationId)}">`,
    `<h2><span class="method ${method}">${method.toUpperCase()}</span> <code>${esc(path)}</code></h2>`,
    `<p><strong>${esc(op.summary)}.</strong> ${inline(op.description)}</p>`,
    `<p class="auth">${op.security?.length === 0 ? "Public: no token needed." : "Needs <code>Authorization: Bearer &lt;token&gt;</code>."}</p>`,
  ];
  if (op.parameters?.length) {
    parts.push("<h3>Parameters</h3>", table(["name", "in", "type", "required", "rules", "description"]));
    for (const p of op.parameters) {
      const summary = describeSchema(doc, p.schema);
      parts.push(
        row([
          `<code>${esc(p.name)}</code>`,
          esc(p.in),
          esc(summary.type),
          p.required ? "yes" : "no",
          esc(summary.rules),
          inline(p.description ?? ""),
        ]),
      );
    }
    parts.push("</tbody></table>");
  }
  const body = op.requestBody?.content["application/json"]?.schema;
  if (body) {
    parts.push(`<h3>Request body <small>application/json ${esc(refName(body) ?? "")}</small></h3>`);
    parts.push(fieldTable(fieldRows(doc, body)));
  }
  parts.push("<h3>Answers</h3>", table(["status", "body", "meaning"]));
  for (const [status, response] of Object.entries(op.responses)) {
    const [mediaType, media] = Object.entries(response.content ?? {})[0] ?? [];
    const bodyName = media ? (refName(media.schema) ?? mediaType) : "—";
    parts.push(row([`<code>${esc(status)}</code>`, esc(bodyName ?? ""), inline(response.description)]));
  }
  parts.push("</tbody></table>");
  // each answer body once, ApiError (the same everywhere) described in the introduction
  const shown = new Set(["ApiError"]);
  for (const response of Object.values(op.responses)) {
    const schema = response.content?.["application/json"]?.schema;
    const name = schema ? refName(schema) : undefined;
    if (!schema || !name || shown.has(name)) continue;
    shown.add(name);
    parts.push(`<h3>${esc(name)}</h3>`, fieldTable(fieldRows(doc, schema)));
  }
  parts.push("</section>");
  return parts.join("\n");
}

function fieldTable(rows: FieldRow[]): string {
  const body = rows.map((r) =>
    row([`<code>${esc(r.path)}</code>`, esc(r.type), r.required ? "yes" : "no", esc(r.rules)]),
  );
  return `${table(["field", "type", "required", "rules"])}${body.join("")}</tbody></table>`;
}

/** Every field of an object schema, nested objects and array items included, as dotted paths. */
function fieldRows(doc: OpenApiDocument, schema: JsonSchema, prefix = "", depth = 0): FieldRow[] {
  const resolved = resolve(doc, schema);
  const properties = resolved.properties as Record<string, JsonSchema> | undefined;
  if (!properties || depth > 6) return [];
  const required = new Set((resolved.required as string[] | undefined) ?? []);
  const rows: FieldRow[] = [];
  for (const [name, property] of Object.entries(properties)) {
    const path = prefix + name;
    const summary = describeSchema(doc, property);
    rows.push({ path, type: summary.type, required: required.has(name), rules: summary.rules });
    const inner = resolve(doc, property);
    const object = nonNull(inner);
    if (object.type === "object") rows.push(...fieldRows(doc, object, `${path}.`, depth + 1));
    if (object.type === "array" && object.items)
      rows.push(...fieldRows(doc, object.items as JsonSchema, `${path}[].`, depth + 1));
  }
  return rows;
}

/** A short type name and the constraints of a schema, in words. */
function describeSchema(doc: OpenApiDocument, schema: JsonSchema): { type: string; rules: string } {
  const s = resolve(doc, schema);
  const variants = s.anyOf as JsonSchema[] | undefined;
  if (variants) {
    const parts = variants.map((v) => describeSchema(doc, v));
    return {
      type: parts.map((p) => p.type).join(" | "),
      rules: parts
        .map((p) => p.rules)
        .filter(Boolean)
        .join("; "),
    };
  }
  const rules: string[] = [];
  if (s.const !== undefined) rules.push(`exactly ${JSON.stringify(s.const)}`);
  if (Array.isArray(s.enum)) rules.push(`one of ${s.enum.map((v) => String(v)).join(", ")}`);
  if (typeof s.format === "string") rules.push(s.format);
  // a format's own pattern (uuid, date-time) says nothing more; a URL's says which schemes
  if (typeof s.pattern === "string" && (s.format === undefined || s.format === "uri"))
    rules.push(`matches ${s.pattern}`);
  const bound = (key: string, words: string) => {
    const value = s[key];
    if (typeof value === "number" && Math.abs(value) !== Number.MAX_SAFE_INTEGER) rules.push(`${words} ${value}`);
  };
  bound("minimum", "≥");
  bound("exclusiveMinimum", ">");
  bound("maximum", "≤");
  bound("exclusiveMaximum", "<");
  bound("minLength", "length ≥");
  bound("maxLength", "length ≤");
  if (s.default !== undefined) rules.push(`default ${JSON.stringify(s.default)}`);
  let type = typeof s.type === "string" ? s.type : "any";
  if (type === "array" && s.items) type = `${describeSchema(doc, s.items as JsonSchema).type}[]`;
  if (type === "object" && s.additionalProperties && typeof s.additionalProperties === "object") {
    type = `map of ${describeSchema(doc, s.additionalProperties as JsonSchema).type}`;
  }
  return { type, rules: rules.join(", ") };
}

function resolve(doc: OpenApiDocument, schema: JsonSchema): JsonSchema {
  const name = refName(schema);
  return name ? (doc.components.schemas[name] ?? {}) : schema;
}

function refName(schema: JsonSchema): string | undefined {
  const ref = schema.$ref;
  return typeof ref === "string" ? ref.replace("#/components/schemas/", "") : undefined;
}

/** The non-null variant of `T | null`, the schema itself otherwise. */
function nonNull(schema: JsonSchema): JsonSchema {
  const variants = schema.anyOf as JsonSchema[] | undefined;
  return variants?.find((v) => v.type !== "null") ?? schema;
}

const table = (headers: string[]) =>
  `<table><thead><tr>${headers.map((h) => `<th>${h}</th>`).join("")}</tr></thead><tbody>`;
const row = (cells: string[]) => `<tr>${cells.map((c) => `<td>${c}</td>`).join("")}</tr>`;

function esc(text: string): string {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

/** Escaped text with `code` spans. */
function inline(text: string): string {
  return esc(text).replace(/`([^`]+)`/g, "<code>$1</code>");
}

const STYLE = `
body{font:15px/1.5 system-ui,sans-serif;margin:0 auto;max-width:72rem;padding:1rem 2rem;color:#1d2330}
h1 small{font-weight:normal;color:#667}
section{border-top:1px solid #dde;padding:.5rem 0 1rem}
code{font:13px ui-monospace,monospace;background:#f2f3f7;padding:0 .25rem;border-radius:3px}
table{border-collapse:collapse;width:100%;margin:.25rem 0 1rem}
th,td{border:1px solid #dde;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f7f8fb}
.method{display:inline-block;min-width:4.5rem;text-align:center;border-radius:4px;color:#fff;font-size:13px;padding:.1rem .4rem}
.get{background:#2f6fdb}.post{background:#1f9d55}.delete{background:#d64545}
.auth{color:#556}
nav ul{columns:2}
`;
