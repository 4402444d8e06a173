import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { Slot } from "@trainyard/contracts";

const run = promisify(execFile);

/** Parses `nvidia-smi -L` output ("GPU 0: NVIDIA H100 (UUID: …)") into one slot per GPU. */
export function slotsFromNvidiaSmi(output: string): Slot[] {
  const slots: Slot[] = [];
  for (const line of output.split("\n")) {
    const match = /^GPU (\d+): (.+?)(?: \(UUID:.*)?$/.exec(line.trim());
    if (match?.[1] && match[2]) slots.push({ index: slots.length, device: `cuda:${match[1]}`, name: match[2] });
  }
  return slots;
}

/** The slots this agent offers: the configured devices, or every GPU, or one CPU slot. */
export async function detectSlots(setting: string): Promise<Slot[]> {
  if (setting !== "auto") {
    return setting
      .split(",")
      .map((d) => d.trim())
      .filter(Boolean)
      .map((device, index) => ({ index, device, name: device === "cpu" ? "CPU" : device }));
  }
  try {
    const { stdout } = await run("nvidia-smi", ["-L"], { timeout: 10_000 });
    const gpus = slotsFromNvidiaSmi(stdout);
    if (gpus.length > 0) return gpus;
  } catch {
    // no driver or no nvidia-smi: this host trains on its CPU
  }
  return [{ index: 0, device: "cpu", name: "CPU" }];
}
