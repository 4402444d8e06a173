import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { kvCallbackTargets, type TargetBucket } from "./callback-targets.js";

function bucket(entries: Record<string, { operation: "PUT" | "DEL" | "PURGE"; value: string }>): TargetBucket {
  return {
    async get(key) {
      const entry = entries[key];
      return entry ? { operation: entry.operation, string: () => entry.value } : null;
    },
  };
}

describe("callback targets", () => {
  const targets = kvCallbackTargets(
    bucket({
      ok: { operation: "PUT", value: JSON.stringify({ url: "https://app.example.com/hook", secret: "s3cret" }) },
      deleted: { operation: "DEL", value: "" },
      garbled: { operation: "PUT", value: "{not json" },
      incomplete: { operation: "PUT", value: JSON.stringify({ secret: "s3cret" }) },
    }),
  );

  it("reads a stored target", async () => {
    assert.deepEqual(await targets.lookup("ok"), {
      kind: "found",
      target: { url: "https://app.example.com/hook", secret: "s3cret" },
    });
  });

  it("reports absent and deleted targets as missing", async () => {
    assert.deepEqual(await targets.lookup("absent"), { kind: "missing" });
    assert.deepEqual(await targets.lookup("deleted"), { kind: "missing" });
  });

  it("reports unreadable values without quoting them", async () => {
    assert.equal((await targets.lookup("garbled")).kind, "invalid");
    const incomplete = await targets.lookup("incomplete");
    assert.deepEqual(incomplete, { kind: "invalid", reason: "bad fields: url" });
  });
});
