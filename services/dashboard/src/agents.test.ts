import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { AgentHeartbeat } from "@trainyard/contracts";
import { agentView, gpuWarnings } from "./agents.js";

const GB = 1024 ** 3;
const gpu = (temperature: number | null, usedGb: number | null, totalGb: number | null) => ({
  device: "cuda:0",
  name: "NVIDIA RTX 4090",
  utilization_percent: 87,
  memory_used_bytes: usedGb === null ? null : usedGb * GB,
  memory_total_bytes: totalGb === null ? null : totalGb * GB,
  temperature_c: temperature,
});

describe("agents", () => {
  it("warns past the PRD 10.3 thresholds: temperature above 85 °C, memory above 95 %", () => {
    assert.deepEqual(gpuWarnings(gpu(72, 12.3, 24)), []);
    assert.deepEqual(gpuWarnings(gpu(85, 22.8, 24)), [], "85 °C and exactly 95 % are still fine");
    assert.deepEqual(gpuWarnings(gpu(86, 23, 24)), ["temperature", "memory"]);
    assert.deepEqual(gpuWarnings(gpu(null, null, null)), [], "no reading, no warning");
  });

  it("shows an agent online while its heartbeat is fresh and it did not deregister", () => {
    const beat: AgentHeartbeat = {
      agent_id: "gpu-1",
      host: "gpu-host-1",
      slots: [{ index: 0, device: "cuda:0", name: "NVIDIA RTX 4090" }],
      gpus: [gpu(90, 12, 24)],
      draining: false,
      started_at: "2025-01-20T10:00:00.000Z",
      seen_at: "2025-01-20T10:30:00.000Z",
    };
    const seen = Date.parse(beat.seen_at);
    const view = agentView(beat, { now: seen + 10_000, ttlMs: 30_000, gone: false });
    assert.equal(view.online, true);
    assert.equal(view.gpus[0]?.memory_percent, 50);
    assert.deepEqual(view.gpus[0]?.warnings, ["temperature"]);
    assert.equal(agentView(beat, { now: seen + 31_000, ttlMs: 30_000, gone: false }).online, false);
    assert.equal(agentView(beat, { now: seen, ttlMs: 30_000, gone: true }).online, false);
  });
});
