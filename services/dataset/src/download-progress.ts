/** Share of the job's progress the download itself covers; validation completes `downloading` at 5 %. */
export const DOWNLOAD_PERCENTAGE_SPAN = 4;

export interface DownloadStep {
  /** Increases with every report; names the report's message id, so a redelivery repeats none. */
  step: number;
  bytes: number;
  total: number | null;
  percentage: number;
}

export interface ProgressOptions {
  /** Fraction of a declared size between reports (0.25: at 0, 25, 50, 75 and 100 %). */
  fraction?: number;
  /** Bytes between reports when the server did not declare a size. */
  unknownSizeStep?: number;
}

/**
 * Turns the download's byte counts into a few `downloading` reports: one when the size is known,
 * then one per `fraction` of it (or per `unknownSizeStep` bytes), never a step twice or backwards,
 * so the app gets a handful of progress callbacks however many chunks arrive. The percentage
 * stays within 0..DOWNLOAD_PERCENTAGE_SPAN of the job's progress.
 */
export function downloadProgress(
  report: (step: DownloadStep) => void,
  options: ProgressOptions = {},
): (bytes: number, total: number | null) => void {
  const fraction = options.fraction ?? 0.25;
  const unknownSizeStep = options.unknownSizeStep ?? 256 * 1024 ** 2;
  let last = -1;
  return (bytes, total) => {
    const known = total !== null && total > 0;
    const step = known ? Math.floor(Math.min(1, bytes / total) / fraction) : Math.floor(bytes / unknownSizeStep);
    if (step <= last) return;
    last = step;
    const done = known ? Math.min(1, step * fraction) : 0;
    report({ step, bytes, total, percentage: Math.round(done * DOWNLOAD_PERCENTAGE_SPAN * 10) / 10 });
  };
}
