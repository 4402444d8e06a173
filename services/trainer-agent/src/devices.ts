import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { GpuReading, Slot } from "@trainyard/contracts";

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

const MIB = 1024 * 1024;

/**
 * Parses `nvidia-smi --query-gpu=index,name,utilization.gpu,memory.used,memory.total,temperature.gpu
 * --format=csv,noheader,nounits`; a field nvidia-smi cannot read ("[N/A]") becomes null.
 */
export function gpuReadingsFromCsv(output: string): GpuReading[] {
  const readings: GpuReading[] = [];
  for (const line of output.split("\n")) {
    const cells = line.split(",").map((c) => c.trim());
    if (cells.length < 6 || !/^\d+$/.test(cells[0] ?? "")) continue;
    const num = (cell: string | undefined) => (cell !== undefined && /^[\d.]+$/.test(cell) ? Number(cell) : null);
    const mib = (cell: string | undefined) => {
      const value = num(cell);
      return value === null ? null : value * MIB;
    };
    readings.push({
      device: `cuda:${cells[0]}`,
      name: cells[1] ?? "",
      utilization_percent: num(cells[2]),
      memory_used_bytes: mib(cells[3]),
      memory_total_bytes: mib(cells[4]),
      temperature_c: num(cells[5]),
    });
  }
  return readings;
}

/** Current readings of this host's GPUs; none when the host trains on its CPU. */
export async function readGpus(slots: Slot[]): Promise<GpuReading[]> {
  if (!slots.some((s) => s.device.startsWith("cuda"))) return [];
  try {
    const { stdout } = await run(
      "nvidia-smi",
      [
        "--query-gpu=index,name,utilization.gpu,memory.used,memory.total,temperature.gpu",
        "--format=csv,noheader,nounits",
      ],
      { timeout: 10_000 },
    );
    return gpuReadingsFromCsv(stdout);
  } catch {
    return [];
  }
}
