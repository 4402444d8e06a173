import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { openApiDocument, type OpenApiDocument } from "@trainyard/contracts";
import { renderApiDocs } from "./api-docs.js";

describe("renderApiDocs", () => {
  const doc = openApiDocument();
  const html = renderApiDocs(doc);

  test("lists every operation of the document with its method, path and summary", () => {
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        assert.ok(html.includes(`id="${op.operationId}"`), `expected a section for ${op.operationId}`);
        assert.ok(html.includes(`${method.toUpperCase()}</span> <code>${path}</code>`), `expected ${method} ${path}`);
        assert.ok(html.includes(op.summary), `expected the summary of ${op.operationId}`);
      }
    }
  });

  test("shows request fields with their rules, parameters and every status code", () => {
    for (const text of [
      "<code>model_config.epochs</code>",
      "≥ 1, ≤ 1000",
      "<code>model_config.augmentation.hsv_h</code>",
      "one of SGD, Adam",
      "<code>limit</code>",
      "default 50",
      "<code>409</code>",
      "<code>429</code>",
      "<code>jobs[].job_id</code>",
    ]) {
      assert.ok(html.includes(text), `expected the page to show ${JSON.stringify(text)}`);
    }
  });

  test("needs nothing from the network: no scripts, no external stylesheets or images", () => {
    assert.doesNotMatch(html, /<script|<link|<img|https?:\/\/(?!json-schema)/i);
  });

  test("escapes text from the document", () => {
    const hostile: OpenApiDocument = { ...doc, info: { ...doc.info, title: '<script>alert("x")</script>' } };
    const page = renderApiDocs(hostile);
    assert.ok(!page.includes("<script>alert"), "expected the title escaped");
    assert.ok(page.includes("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"), "expected the escaped title shown");
  });
});
