import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { contentType, resolveStaticPath } from "./static-files.js";

describe("static files", () => {
  const root = "/srv/ui";

  it("resolves a file under the root", () => {
    assert.equal(resolveStaticPath(root, "/assets/index-abc.js"), "/srv/ui/assets/index-abc.js");
    assert.equal(resolveStaticPath(root, "/favicon.svg"), "/srv/ui/favicon.svg");
  });

  it("refuses paths that leave the root, plain or encoded", () => {
    for (const path of [
      "/../etc/passwd",
      "/assets/../../etc/passwd",
      "/%2e%2e/%2e%2e/etc/passwd",
      "/..%2fpackage.json",
      "/a/..%5c..%5cx",
    ]) {
      assert.equal(resolveStaticPath(root, path), null, path);
    }
  });

  it("refuses hidden files, NUL bytes, malformed escapes and the root itself", () => {
    for (const path of ["/.env", "/assets/.secret", "/a%00.js", "/%E0%A4%A", "/", ""]) {
      assert.equal(resolveStaticPath(root, path), null, JSON.stringify(path));
    }
  });

  it("names content types by extension", () => {
    assert.equal(contentType("index.html"), "text/html; charset=utf-8");
    assert.equal(contentType("a.JS"), "text/javascript; charset=utf-8");
    assert.equal(contentType("a.css"), "text/css; charset=utf-8");
    assert.equal(contentType("a.svg"), "image/svg+xml");
    assert.equal(contentType("a.bin"), "application/octet-stream");
  });
});
