import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DatasetError } from "./dataset-error.js";
import { localDiskError } from "./local-disk.js";

const errno = (code: string, message = `${code}: failed`) => Object.assign(new Error(message), { code });

describe("localDiskError", () => {
  it("finds this host's disk errors, also as the cause of another error", () => {
    for (const code of ["ENOSPC", "EDQUOT", "EROFS", "EIO", "EMFILE", "ENFILE"])
      assert.equal(localDiskError(errno(code))?.code, code, code);
    const wrapped = new Error("pipeline failed", { cause: errno("ENOSPC", "ENOSPC: no space left on device, write") });
    assert.equal(localDiskError(wrapped)?.code, "ENOSPC");
  });

  it("leaves network errors and the dataset's own faults to the download's rules", () => {
    for (const code of ["ECONNRESET", "ECONNREFUSED", "ENOTFOUND", "UND_ERR_SOCKET", "ETIMEDOUT"])
      assert.equal(localDiskError(errno(code)), undefined, code);
    assert.equal(localDiskError(new DatasetError("DATASET_DOWNLOAD_FAILED", "404")), undefined);
    assert.equal(localDiskError("ENOSPC"), undefined, "only errors carry a code");
  });
});
