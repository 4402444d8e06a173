import type { EpochPoint } from "./job-wire.js";

export const METRICS = ["mAP50", "mAP50-95", "box_loss", "cls_loss", "dfl_loss", "precision", "recall"] as const;
export type Metric = (typeof METRICS)[number];

/**
 * A job's metric history in columns, the shape charts draw from: x = epochs, one column per
 * metric. A new epoch is appended in place (no copy of a 1,000-epoch history per update); a
 * repeated epoch replaces its row unless the row came from a later event.
 */
export class MetricHistory {
  readonly epochs: number[] = [];
  readonly columns: Record<Metric, Array<number | null>> = Object.fromEntries(METRICS.map((m) => [m, []])) as never;
  readonly #seqs: number[] = [];

  get length(): number {
    return this.epochs.length;
  }

  /** Highest event sequence held: what a reconnecting page asks the server to send after. */
  get maxSeq(): number {
    return this.#seqs.reduce((max, s) => Math.max(max, s), 0);
  }

  /** Adds or replaces one epoch; false when it changed nothing. */
  upsert(point: EpochPoint): boolean {
    const last = this.epochs.at(-1);
    const i = last === undefined || point.epoch > last ? this.epochs.length : this.#indexOf(point.epoch);
    if (this.epochs[i] === point.epoch) {
      if ((this.#seqs[i] ?? 0) >= point.seq) return false;
    } else {
      this.epochs.splice(i, 0, point.epoch);
      this.#seqs.splice(i, 0, 0);
      for (const m of METRICS) this.columns[m].splice(i, 0, null);
    }
    this.#seqs[i] = point.seq;
    for (const m of METRICS) this.columns[m][i] = point[m];
    return true;
  }

  clear(): void {
    this.epochs.length = 0;
    this.#seqs.length = 0;
    for (const m of METRICS) this.columns[m].length = 0;
  }

  /** First index whose epoch is >= `epoch` (binary search; epochs stay sorted). */
  #indexOf(epoch: number): number {
    let lo = 0;
    let hi = this.epochs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.epochs[mid] ?? 0) < epoch) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
