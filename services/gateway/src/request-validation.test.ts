import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { JobListQuery } from "@trainyard/contracts";
import { HttpError } from "./http-errors.js";
import { parseParam, parseQuery } from "./request-validation.js";

function refusal(work: () => unknown): HttpError {
  try {
    work();
  } catch (err) {
    assert.ok(err instanceof HttpError, `expected an HttpError, got ${String(err)}`);
    return err;
  }
  assert.fail("expected the input to be refused");
}

describe("parseQuery", () => {
  test("plain decimals become numbers; defaults fill the rest; unknown parameters are dropped", () => {
    assert.deepEqual(parseQuery(JobListQuery, { limit: "20", offset: "0", status: "queued", sort: "x" }), {
      limit: 20,
      offset: 0,
      status: "queued",
    });
    assert.deepEqual(parseQuery(JobListQuery, {}), { limit: 50, offset: 0 });
  });

  test("anything but a plain decimal stays text and is refused, naming the parameter", () => {
    for (const limit of ["1e1", "0x10", " 5", "05", "+5", "5.0", "", "Infinity"]) {
      const err = refusal(() => parseQuery(JobListQuery, { limit }));
      assert.equal(err.status, 400);
      assert.equal(err.code, "INVALID_PARAMETER");
      assert.deepEqual(
        err.errors?.map((e) => e.path),
        ["limit"],
        `expected limit=${JSON.stringify(limit)} refused`,
      );
    }
  });

  test("a parameter named __proto__ cannot lend the query a prototype", () => {
    const query: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
    query.__proto__ = ["x"];
    query.limit = "3";
    assert.deepEqual(parseQuery(JobListQuery, query), { limit: 3, offset: 0 });
    const poisoned = JSON.parse('{"__proto__": {"status": "failed"}}') as Record<string, unknown>;
    assert.equal(parseQuery(JobListQuery, poisoned).status, undefined, "expected no inherited status");
  });
});

describe("parseParam", () => {
  test("names the parameter in the error", () => {
    const err = refusal(() => parseParam(JobListQuery.shape.limit, "limit", "x"));
    assert.deepEqual(
      err.errors?.map((e) => e.path),
      ["limit"],
    );
  });
});
