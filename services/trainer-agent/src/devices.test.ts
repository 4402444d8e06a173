import assert from "node:assert/strict";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { detectSlots, slotsFromNvidiaSmi } from "./devices.js";

const TWO_GPUS = [
  "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-4f6d3c1e-0000-1111-2222-333344445555)",
  "GPU 1: NVIDIA GeForce RTX 4090 (UUID: GPU-9a8b7c6d-0000-1111-2222-333344445555)",
  "",
].join("\n");

describe("slotsFromNvidiaSmi", () => {
  test("one slot per GPU, named after the card, on cuda:<n>", () => {
    assert.deepEqual(slotsFromNvidiaSmi(TWO_GPUS), [
      { index: 0, device: "cuda:0", name: "NVIDIA H100 80GB HBM3" },
      { index: 1, device: "cuda:1", name: "NVIDIA GeForce RTX 4090" },
    ]);
  });

  test("ignores MIG device lines, blank lines and CRLF endings", () => {
    const output = [
      "GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-1)\r",
      "  MIG 1g.5gb      Device  0: (UUID: MIG-2)\r",
      "",
      "GPU 1: NVIDIA A100-SXM4-40GB (UUID: GPU-3)\r",
    ].join("\n");
    assert.deepEqual(
      slotsFromNvidiaSmi(output).map((s) => [s.index, s.device, s.name]),
      [
        [0, "cuda:0", "NVIDIA A100-SXM4-40GB"],
        [1, "cuda:1", "NVIDIA A100-SXM4-40GB"],
      ],
    );
  });

  test("a line without a UUID still counts", () => {
    assert.deepEqual(slotsFromNvidiaSmi("GPU 0: Tesla T4\n"), [{ index: 0, device: "cuda:0", name: "Tesla T4" }]);
  });

  test("no GPU, or an error message, gives no slots", () => {
    assert.deepEqual(slotsFromNvidiaSmi(""), []);
    assert.deepEqual(
      slotsFromNvidiaSmi("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\n"),
      [],
    );
  });
});

describe("detectSlots", () => {
  test('"cpu" is one CPU slot', async () => {
    assert.deepEqual(await detectSlots("cpu"), [{ index: 0, device: "cpu", name: "CPU" }]);
  });

  test('"cuda:0,cuda:1" is two GPU slots in that order', async () => {
    assert.deepEqual(await detectSlots("cuda:0,cuda:1"), [
      { index: 0, device: "cuda:0", name: "cuda:0" },
      { index: 1, device: "cuda:1", name: "cuda:1" },
    ]);
  });

  test("spaces and empty items in the list are ignored", async () => {
    assert.deepEqual(
      (await detectSlots(" cuda:1 , ,cuda:3,")).map((s) => [s.index, s.device]),
      [
        [0, "cuda:1"],
        [1, "cuda:3"],
      ],
    );
  });

  describe('"auto" asks nvidia-smi', () => {
    // A stand-in nvidia-smi on PATH: whether this host has GPUs must not decide the outcome.
    let binDir: string;
    const originalPath = process.env.PATH;

    before(async () => {
      binDir = await mkdtemp(join(tmpdir(), "trainyard-nvidia-smi-"));
    });

    after(async () => {
      process.env.PATH = originalPath;
      await rm(binDir, { recursive: true, force: true });
    });

    async function withNvidiaSmi(script: string): Promise<void> {
      const path = join(binDir, "nvidia-smi");
      await writeFile(path, `#!/bin/sh\n${script}\n`);
      await chmod(path, 0o755);
      process.env.PATH = `${binDir}${delimiter}${originalPath ?? ""}`;
    }

    test("two GPUs listed: two cuda slots", async () => {
      await withNvidiaSmi(`[ "$1" = "-L" ] || exit 2\ncat <<'EOF'\n${TWO_GPUS}EOF`);
      assert.deepEqual(
        (await detectSlots("auto")).map((s) => s.device),
        ["cuda:0", "cuda:1"],
      );
    });

    test("nvidia-smi failing (no driver): one CPU slot", async () => {
      await withNvidiaSmi("echo 'NVIDIA-SMI has failed' >&2\nexit 9");
      assert.deepEqual(await detectSlots("auto"), [{ index: 0, device: "cpu", name: "CPU" }]);
    });

    test("nvidia-smi listing nothing: one CPU slot", async () => {
      await withNvidiaSmi("exit 0");
      assert.deepEqual(await detectSlots("auto"), [{ index: 0, device: "cpu", name: "CPU" }]);
    });
  });
});
