import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, test } from "node:test";
import { parseEventLine } from "./trainer-process.js";

// Written by the Python EventStream and kept current by python-trainer's test_event_stream.py, so the
// trainer's real output is checked against the zod contract here and against the JSON Schema there.
const SAMPLE = fileURLToPath(new URL("../../../../python-trainer/tests/fixtures/events.sample.jsonl", import.meta.url));

describe("parseEventLine", () => {
  test("accepts every event the Python trainer writes", () => {
    const lines = readFileSync(SAMPLE, "utf8").trim().split("\n");
    const types = lines.map((line) => {
      const parsed = parseEventLine(line);
      assert.ok(parsed.ok, `expected the trainer's line to parse: ${line}\n${JSON.stringify(parsed)}`);
      return parsed.event.type;
    });
    assert.deepEqual(new Set(types), new Set(["phase", "log", "artifact", "epoch", "done", "error"]));
  });

  test("refuses another protocol version by name", () => {
    for (const line of ['{"type": "preparing", "model_source": "weights", "model": "x"}', '{"v": 3, "type": "done"}']) {
      const parsed = parseEventLine(line);
      assert.equal(parsed.ok, false, `expected ${line} to be refused`);
      if (parsed.ok) return;
      assert.equal(parsed.failure.code, "UNKNOWN_ERROR");
      assert.equal(parsed.failure.message, "trainer speaks another event protocol version");
      assert.match(parsed.failure.details, /this agent reads version 2/);
    }
    const v1 = parseEventLine('{"type": "validating"}');
    assert.ok(!v1.ok && v1.failure.details.includes("protocol version 1"), "expected a v1 trainer named as such");
  });

  test("passes an unknown event type of the same version on as a warning", () => {
    const parsed = parseEventLine('{"v": 2, "type": "heartbeat", "at": 1}');
    assert.ok(parsed.ok, "expected an additive event type not to fail the job");
    assert.deepEqual(parsed.event, {
      v: 2,
      type: "log",
      level: "warning",
      message: 'skipped an event of unknown type "heartbeat" from a newer trainer',
    });
  });

  test("reports a line that breaks the schema, naming the field", () => {
    const parsed = parseEventLine('{"v": 2, "type": "epoch", "epoch": 0}');
    assert.equal(parsed.ok, false);
    if (parsed.ok) return;
    assert.equal(parsed.failure.message, "trainer broke its event protocol");
    assert.match(parsed.failure.details, /epoch/);
    const garbage = parseEventLine("Ultralytics 8.4.190 🚀 Python-3.11");
    assert.ok(!garbage.ok && garbage.failure.details.startsWith("not JSON"), "expected non-JSON refused");
  });
});
