import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { EpochPoint } from "./job-wire.js";
import { MetricHistory } from "./metric-history.js";

const point = (epoch: number, seq: number, mAP50 = epoch / 10): EpochPoint => ({
  epoch,
  seq,
  mAP50,
  "mAP50-95": mAP50 / 2,
  box_loss: 1 / epoch,
  cls_loss: null,
  dfl_loss: null,
  precision: null,
  recall: null,
});

describe("metric history (the charts' columns)", () => {
  it("appends new epochs in place and keeps columns aligned", () => {
    const history = new MetricHistory();
    const epochs = history.epochs;
    for (let e = 1; e <= 1000; e++) assert.equal(history.upsert(point(e, e)), true);
    assert.equal(history.epochs, epochs, "the same array grows: no copy per epoch");
    assert.equal(history.length, 1000);
    assert.equal(history.columns.mAP50.length, 1000);
    assert.equal(history.columns.box_loss[999], 1 / 1000);
    assert.equal(history.maxSeq, 1000);
  });

  it("merges a resumed snapshot and late or repeated rows by epoch and sequence", () => {
    const history = new MetricHistory();
    for (const e of [1, 2, 5]) history.upsert(point(e, e));
    // rows 3 and 4 arrive after a reconnect; a stale copy of 5 is ignored, a newer one replaces it
    assert.equal(history.upsert(point(4, 9)), true);
    assert.equal(history.upsert(point(3, 8)), true);
    assert.equal(history.upsert(point(5, 5, 0.9)), false);
    assert.equal(history.upsert(point(5, 10, 0.9)), true);
    assert.deepEqual(history.epochs, [1, 2, 3, 4, 5]);
    assert.deepEqual(history.columns.mAP50, [0.1, 0.2, 0.3, 0.4, 0.9]);
    assert.equal(history.maxSeq, 10);
    history.clear();
    assert.equal(history.length, 0);
  });
});
