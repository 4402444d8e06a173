import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import express from "express";
import { cors } from "./cors.js";

describe("cors", () => {
  let url = "";
  let close = async () => undefined as void;

  before(async () => {
    const app = express();
    app.use(cors(["https://app.example.com"]));
    app.get("/thing", (_req, res) => {
      res.json({ ok: true });
    });
    const server = await new Promise<ReturnType<typeof app.listen>>((resolve) => {
      const s = app.listen(0, "127.0.0.1", () => resolve(s));
    });
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    close = () => new Promise((resolve) => server.close(() => resolve()));
  });

  after(() => close());

  test("a listed origin is allowed, and caches are told the answer depends on Origin", async () => {
    const res = await fetch(`${url}/thing`, { headers: { origin: "https://app.example.com" } });
    assert.equal(res.headers.get("access-control-allow-origin"), "https://app.example.com");
    assert.match(res.headers.get("vary") ?? "", /Origin/);
    assert.match(res.headers.get("access-control-expose-headers") ?? "", /Retry-After/);
    assert.equal(res.headers.get("access-control-allow-credentials"), null, "expected no credentials (no cookies)");
  });

  test("another origin gets no CORS headers, so its browser blocks the answer", async () => {
    for (const origin of ["https://evil.example.com", "https://app.example.com.evil.com", "null"]) {
      const res = await fetch(`${url}/thing`, { headers: { origin } });
      assert.equal(res.headers.get("access-control-allow-origin"), null, `expected no CORS for ${origin}`);
    }
  });

  test("a preflight from a listed origin is answered 204 with the methods and headers the API takes", async () => {
    const res = await fetch(`${url}/thing`, {
      method: "OPTIONS",
      headers: {
        origin: "https://app.example.com",
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type",
      },
    });
    assert.equal(res.status, 204);
    assert.equal(res.headers.get("access-control-allow-origin"), "https://app.example.com");
    assert.equal(res.headers.get("access-control-allow-methods"), "GET, POST, DELETE");
    assert.match(res.headers.get("access-control-allow-headers") ?? "", /Authorization/);
  });

  test("a preflight from another origin gets no allowance", async () => {
    const res = await fetch(`${url}/thing`, {
      method: "OPTIONS",
      headers: { origin: "https://evil.example.com", "access-control-request-method": "DELETE" },
    });
    assert.equal(res.headers.get("access-control-allow-origin"), null);
    assert.equal(res.headers.get("access-control-allow-methods"), null);
  });
});
