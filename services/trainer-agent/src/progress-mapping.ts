import type { BestMetrics, EpochMetrics, JobEventOf, TrainerEvent } from "@trainyard/contracts";

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

/** Tracks the best epoch so far by mAP50-95 (then mAP50), as the PRD's `metrics.best` reports it. */
export class BestTracker {
  private best: BestMetrics | null = null;

  update(epoch: number, metrics: EpochMetrics): BestMetrics | null {
    const score = (m: { mAP50: number | null; "mAP50-95": number | null }) =>
      [m["mAP50-95"] ?? -1, m.mAP50 ?? -1] as const;
    const [s95, s50] = score(metrics);
    if (metrics["mAP50-95"] === null && metrics.mAP50 === null) return this.best;
    if (!this.best) {
      this.best = { mAP50: metrics.mAP50, "mAP50-95": metrics["mAP50-95"], epoch };
    } else {
      const [b95, b50] = score(this.best);
      if (s95 > b95 || (s95 === b95 && s50 > b50)) {
        this.best = { mAP50: metrics.mAP50, "mAP50-95": metrics["mAP50-95"], epoch };
      }
    }
    return this.best;
  }
}

/** The job event for one trainer epoch report. */
export function epochEvent(
  jobId: string,
  report: Extract<TrainerEvent, { type: "epoch" }>,
  best: BestTracker,
  at: Date,
): JobEventOf<"epoch"> {
  return {
    type: "epoch",
    job_id: jobId,
    at: at.toISOString(),
    epoch: report.epoch,
    total_epochs: report.total_epochs,
    percentage: epochPercentage(report.epoch, report.total_epochs),
    eta_seconds: report.eta_seconds,
    metrics: { current: report.metrics, best: best.update(report.epoch, report.metrics) },
    resources: report.resources,
  };
}
