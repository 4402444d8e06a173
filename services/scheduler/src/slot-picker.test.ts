import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { AgentHeartbeat, Slot, SlotLease } from "@trainyard/contracts";
import { pickSlot, slotKey } from "./slot-picker.js";

const AT = "2025-01-20T10:00:00Z";
const gpu = (index: number): Slot => ({ index, device: `cuda:${index}`, name: "NVIDIA H100" });
const cpu: Slot = { index: 0, device: "cpu", name: "CPU" };

function agent(agentId: string, slots: Slot[]): AgentHeartbeat {
  return { agent_id: agentId, host: agentId, slots, gpus: [], draining: false, started_at: AT, seen_at: AT };
}

function leases(...held: Array<[string, number]>): Map<string, SlotLease> {
  const map = new Map<string, SlotLease>();
  held.forEach(([agentId, index], i) =>
    map.set(slotKey(agentId, index), {
      job_id: `00000000-0000-4000-8000-00000000000${i}`,
      agent_id: agentId,
      slot_index: index,
      assigned_at: AT,
    }),
  );
  return map;
}

describe("slotKey", () => {
  test("is <agent>.<slot>", () => assert.equal(slotKey("gpu-host-1", 3), "gpu-host-1.3"));
});

describe("pickSlot", () => {
  test("prefers a GPU slot over a CPU slot, whatever the agents' order or names", () => {
    const choice = pickSlot([agent("a-cpu-host", [cpu]), agent("z-gpu-host", [gpu(0)])], leases());
    assert.deepEqual(choice, { agentId: "z-gpu-host", slot: gpu(0) }, "expected the GPU slot");
  });

  test("a request for cuda:N also prefers GPUs", () => {
    const choice = pickSlot([agent("a", [cpu]), agent("b", [gpu(0)])], leases(), { device: "cuda:0" });
    assert.equal(choice?.slot.device, "cuda:0");
  });

  test("spreads load: the agent with the most free slots wins", () => {
    const agents = [agent("a", [gpu(0), gpu(1)]), agent("b", [gpu(0), gpu(1)])];
    assert.deepEqual(pickSlot(agents, leases(["a", 0])), { agentId: "b", slot: gpu(0) });
    assert.deepEqual(pickSlot(agents, leases(["b", 1])), { agentId: "a", slot: gpu(0) });
  });

  test("consecutive picks alternate between two idle agents", () => {
    const agents = [agent("a", [gpu(0), gpu(1)]), agent("b", [gpu(0), gpu(1)])];
    const held = leases();
    const picked: string[] = [];
    for (let i = 0; i < 4; i++) {
      const choice = pickSlot(agents, held);
      assert.ok(choice, `expected a free slot on pick ${i + 1}`);
      picked.push(slotKey(choice.agentId, choice.slot.index));
      held.set(slotKey(choice.agentId, choice.slot.index), {
        job_id: `00000000-0000-4000-8000-00000000001${i}`,
        agent_id: choice.agentId,
        slot_index: choice.slot.index,
        assigned_at: AT,
      });
    }
    assert.deepEqual(picked, ["a.0", "b.0", "a.1", "b.1"], "expected the picks spread across both agents");
  });

  test("ties go to the first agent by name and the lowest slot index", () => {
    const choice = pickSlot([agent("b", [gpu(1), gpu(0)]), agent("a", [gpu(1), gpu(0)])], leases());
    assert.deepEqual(choice, { agentId: "a", slot: gpu(0) });
  });

  test("a cpu request only gets a CPU slot, even with GPUs free", () => {
    const agents = [agent("gpu-host", [gpu(0), gpu(1)]), agent("cpu-host", [cpu])];
    assert.deepEqual(pickSlot(agents, leases(), { device: "cpu" }), { agentId: "cpu-host", slot: cpu });
  });

  test("a cpu request with only GPU slots gets nothing", () => {
    assert.equal(pickSlot([agent("gpu-host", [gpu(0)])], leases(), { device: "cpu" }), null);
  });

  test("a GPU-less cluster still runs jobs on CPU slots", () => {
    assert.deepEqual(pickSlot([agent("cpu-host", [cpu])], leases()), { agentId: "cpu-host", slot: cpu });
  });

  test("no free slot means null", () => {
    const agents = [agent("a", [gpu(0)]), agent("b", [cpu])];
    assert.equal(pickSlot(agents, leases(["a", 0], ["b", 0])), null, "expected every slot leased");
    assert.equal(pickSlot([], leases()), null, "expected no agents to mean no slot");
  });

  test("a lease on an agent that is gone does not block anyone", () => {
    const choice = pickSlot([agent("a", [gpu(0)])], leases(["gone", 0]));
    assert.deepEqual(choice, { agentId: "a", slot: gpu(0) });
  });

  test("a cuda:N request prefers GPU N on an otherwise equal host", () => {
    assert.deepEqual(pickSlot([agent("a", [gpu(0), gpu(1)])], leases(), { device: "cuda:1" }), {
      agentId: "a",
      slot: gpu(1),
    });
  });

  test("a draining agent takes no job", () => {
    const draining = { ...agent("a", [gpu(0)]), draining: true };
    assert.equal(pickSlot([draining], leases()), null, "expected no slot on a draining agent");
  });

  test("a GPU without max_memory_gb free is skipped; one without readings is trusted", () => {
    const GiB = 1024 ** 3;
    const busy = {
      ...agent("busy", [gpu(0)]),
      gpus: [
        {
          device: "cuda:0",
          name: "NVIDIA H100",
          utilization_percent: 90,
          memory_used_bytes: 70 * GiB,
          memory_total_bytes: 80 * GiB,
          temperature_c: 60,
        },
      ],
    };
    assert.equal(pickSlot([busy], leases(), { memoryGb: 16 }), null, "10 GiB free is not enough for 16");
    assert.deepEqual(pickSlot([busy], leases(), { memoryGb: 8 }), { agentId: "busy", slot: gpu(0) });
    assert.deepEqual(pickSlot([agent("unknown", [gpu(0)])], leases(), { memoryGb: 64 }), {
      agentId: "unknown",
      slot: gpu(0),
    });
  });
});
