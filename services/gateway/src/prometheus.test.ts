import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { renderPrometheus } from "./prometheus.js";

describe("renderPrometheus", () => {
  test("counters and gauges: HELP, TYPE, then one line per sample with its labels", () => {
    const text = renderPrometheus([
      {
        name: "training_jobs_total",
        help: "Finished jobs.",
        type: "counter",
        samples: [
          { labels: { status: "completed" }, value: 127 },
          { labels: { status: "failed" }, value: 8 },
        ],
      },
      { name: "queue_size", help: "Waiting jobs.", type: "gauge", samples: [{ value: 3 }] },
    ]);
    assert.equal(
      text,
      [
        "# HELP training_jobs_total Finished jobs.",
        "# TYPE training_jobs_total counter",
        'training_jobs_total{status="completed"} 127',
        'training_jobs_total{status="failed"} 8',
        "# HELP queue_size Waiting jobs.",
        "# TYPE queue_size gauge",
        "queue_size 3",
        "",
      ].join("\n"),
    );
  });

  test("a histogram has cumulative buckets, +Inf, _sum and _count", () => {
    const text = renderPrometheus([
      { name: "d", help: "Durations.", type: "histogram", buckets: [10, 100], observations: [5, 10, 50, 500] },
    ]);
    assert.deepEqual(text.trim().split("\n").slice(2), [
      'd_bucket{le="10"} 2',
      'd_bucket{le="100"} 3',
      'd_bucket{le="+Inf"} 4',
      "d_sum 565",
      "d_count 4",
    ]);
  });

  test("label values are escaped, so an agent id cannot break the format", () => {
    const text = renderPrometheus([
      { name: "g", help: "a\\b\nc", type: "gauge", samples: [{ labels: { agent: 'x"y\\z\nw' }, value: 1 }] },
    ]);
    assert.ok(text.includes("# HELP g a\\\\b\\nc\n"), `expected HELP escaped, got ${text}`);
    assert.ok(text.includes('g{agent="x\\"y\\\\z\\nw"} 1\n'), `expected the label value escaped, got ${text}`);
  });

  test("special float values use Prometheus spellings", () => {
    const text = renderPrometheus([
      {
        name: "g",
        help: "h",
        type: "gauge",
        samples: [{ value: Number.NaN }, { value: Infinity }, { value: -Infinity }, { value: 0.5 }],
      },
    ]);
    assert.deepEqual(text.trim().split("\n").slice(2), ["g NaN", "g +Inf", "g -Inf", "g 0.5"]);
  });
});
