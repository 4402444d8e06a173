import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { CLASSIC_SPLITS, normalisedDataYaml } from "./dataset-yaml.js";

describe("normalisedDataYaml", () => {
  test("pins every split to an absolute folder under the root and keeps only what training needs", () => {
    const yaml = normalisedDataYaml(
      "/work/job/dataset/export",
      { train: ["train/images"], val: ["valid/images"], test: ["test/images"] },
      ["poste", "cabo"],
    );
    assert.deepEqual(yaml, {
      path: "/work/job/dataset/export",
      train: "/work/job/dataset/export/train/images",
      val: "/work/job/dataset/export/valid/images",
      test: "/work/job/dataset/export/test/images",
      nc: 2,
      names: ["poste", "cabo"],
    });
    assert.equal("download" in yaml, false, "download: never reaches Ultralytics");
  });

  test("writes a list for several folders, and the classic layout for records without splits", () => {
    const yaml = normalisedDataYaml("/d", { train: ["images/a", "images/b"], val: ["."] }, ["x"]);
    assert.deepEqual(yaml.train, ["/d/images/a", "/d/images/b"]);
    assert.equal(yaml.val, "/d");
    assert.deepEqual(normalisedDataYaml("/d", CLASSIC_SPLITS, ["x"]).train, "/d/images/train");
  });

  test("refuses a split folder outside the root", () => {
    assert.throws(
      () => normalisedDataYaml("/d", { train: ["../etc"], val: ["images/val"] }, ["x"]),
      /outside the dataset/,
    );
  });
});
