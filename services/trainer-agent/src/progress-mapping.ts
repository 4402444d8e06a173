import type { JobEventOf, TrainerEvent } from "@trainyard/contracts";

/** Fixed phase percentages (PRD 3.2). */
export const PHASE_PERCENT = { downloading: 5, preparing: 10, validating: 95, completed: 100 } as const;

/**
 * Percentage after epoch k of n: the PRD's `epoch/total·100`, clamped between the preparing and
 * validating phases so that progress never goes backwards.
 */
export function epochPercentage(epoch: number, total: number): number {
  const raw = (100 * epoch) / Math.max(1, total);
  return Math.round(Math.min(PHASE_PERCENT.validating - 1, Math.max(PHASE_PERCENT.preparing, raw)) * 100) / 100;
}

/**
 * The job event for one trainer epoch report. `best` is the trainer's: the epoch best.pt holds,
 * ranked by Ultralytics' own fitness; the resources are cut down to the PRD's three readings.
 */
export function epochEvent(
  jobId: string,
  report: Extract<TrainerEvent, { type: "epoch" }>,
  at: Date,
): JobEventOf<"epoch"> {
  const { gpu_utilization, memory_used_gb, temperature_c } = report.resources;
  return {
    type: "epoch",
    job_id: jobId,
    at: at.toISOString(),
    epoch: report.epoch,
    total_epochs: report.total_epochs,
    percentage: epochPercentage(report.epoch, report.total_epochs),
    eta_seconds: report.eta_seconds,
    metrics: { current: report.metrics, best: report.best },
    resources: { gpu_utilization, memory_used_gb, temperature_c },
  };
}
