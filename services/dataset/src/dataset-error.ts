import type { ErrorCode } from "@trainyard/contracts";

/** The codes a dataset can fail with (PRD 4.2.3); each is final for the job unless `retryable`. */
export type DatasetErrorCode = Extract<ErrorCode, "DATASET_DOWNLOAD_FAILED" | "DATASET_INVALID" | "DATASET_CORRUPTED">;

/**
 * Why a dataset was refused. `message` names the first problem (it reaches the app's user in
 * `training_failed`), so it must never carry the signed URL's query string.
 */
export class DatasetError extends Error {
  override name = "DatasetError";
  constructor(
    readonly code: DatasetErrorCode,
    message: string,
    /** The longer explanation of a `training_failed` error's `details`. */
    readonly details: string = DEFAULT_DETAILS[code],
    /** True when the same download may succeed later (5xx, reset connection): worth another delivery. */
    readonly retryable = false,
  ) {
    super(message);
  }
}

const DEFAULT_DETAILS: Record<DatasetErrorCode, string> = {
  DATASET_DOWNLOAD_FAILED:
    "The dataset archive could not be downloaded from the given URL. Please check that the signed URL is valid and has not expired.",
  DATASET_CORRUPTED: "The dataset archive is not a readable zip file. Please re-create and upload the archive.",
  DATASET_INVALID:
    "The dataset archive does not follow the YOLO format (data.yaml, images/train, images/val, labels/train, labels/val). Please ensure your dataset follows the YOLO format.",
};
