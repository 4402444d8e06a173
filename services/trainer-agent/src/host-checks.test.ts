import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { describeSlots, explainNatsFailure, type NatsTarget } from "./host-checks.js";

const target: NatsTarget = {
  servers: "nats://n1:4222,nats://n2:4222",
  agentId: "gpu-3",
  auth: { user: "agent-gpu-3", nkeySeedFile: "/secrets/agent-gpu-7.nk" },
};

describe("describeSlots", () => {
  test("names the GPUs nvidia-smi found, or says the host trains on its CPU", () => {
    const gpus = [
      { index: 0, device: "cuda:0", name: "NVIDIA H100" },
      { index: 1, device: "cuda:1", name: "NVIDIA H100" },
    ];
    assert.equal(describeSlots(gpus, "auto"), "nvidia-smi found 2 GPUs: cuda:0 (NVIDIA H100), cuda:1 (NVIDIA H100)");
    assert.match(describeSlots([{ index: 0, device: "cpu", name: "CPU" }], "auto"), /no GPU .*one CPU slot/);
    assert.equal(
      describeSlots([{ index: 0, device: "cuda:1", name: "cuda:1" }], "cuda:1"),
      "slots from AGENT_DEVICES=cuda:1: cuda:1",
    );
  });
});

describe("explainNatsFailure", () => {
  test("an unknown credential: another folder's, or servers not reloaded", () => {
    assert.match(
      explainNatsFailure(new Error("Authorization Violation"), target),
      /refused the credential \/secrets\/agent-gpu-7\.nk.*--signal reload/,
    );
  });

  test("another agent's credential: the id its file name gives", () => {
    const message = explainNatsFailure(
      new Error('Permissions Violation for Subscription to "_INBOX_agent-gpu-3.abc.*"'),
      target,
    );
    assert.match(message, /not agent-gpu-3's credential; its name says it was issued for gpu-7: pass --agent-id gpu-7/);
  });

  test("a file that is no seed, a missing stream, an unreachable server", () => {
    assert.match(explainNatsFailure(new Error("nkeys: invalid checksum"), target), /is not an nkey seed/);
    assert.match(explainNatsFailure(new Error("stream not found"), target), /no TRAIN stream: run the provisioner/);
    assert.equal(
      explainNatsFailure(new Error("connection refused"), target),
      "cannot reach NATS at nats://n1:4222,nats://n2:4222 as agent-gpu-3: connection refused",
    );
  });
});
