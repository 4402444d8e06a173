/**
 * Names in the artifacts object store. Every run of a job (the scheduler's `attempt`) writes its
 * checkpoint and its results under a folder of its own, so a run that was given up on but still
 * trains (its host partitioned, not dead) can never overwrite the files of the run that replaced
 * it; the run whose outcome claim won is the one a download resolves to.
 */

/** A run's file: `<job_id>/attempt-<n>/<file>` (`best.pt`, `last.pt`, plots, `results.csv`, `logs.txt`). */
export const runArtifact = (jobId: string, attempt: number, file: string): string =>
  `${jobId}/attempt-${attempt}/${file}`;

/** A file's object before runs had folders (`<job_id>/<file>`): where a download of such a job looks. */
export const jobArtifact = (jobId: string, file: string): string => `${jobId}/${file}`;

const RUN_FOLDER = /^attempt-([1-9][0-9]{0,5})$/;

/**
 * The file name of one of a job's artifact objects (`<job_id>/<file>` or
 * `<job_id>/attempt-<n>/<file>`), or null when the object is not one of that job's files: the
 * part a download link names (`/artifacts/<job_id>/<file>`).
 */
export function artifactFileOf(jobId: string, objectName: string): string | null {
  const segments = objectName.split("/");
  if (segments[0] !== jobId) return null;
  const rest = segments.length === 3 && RUN_FOLDER.test(segments[1] ?? "") ? segments.slice(2) : segments.slice(1);
  const [file, ...more] = rest;
  if (!file || more.length > 0 || file === "." || file === "..") return null;
  return file;
}

/** The run whose folder holds `objectName` (`<job_id>/attempt-<n>/…`), or null for any other name. */
export function artifactAttemptOf(jobId: string, objectName: string): number | null {
  const segments = objectName.split("/");
  if (segments.length !== 3 || segments[0] !== jobId) return null;
  const match = RUN_FOLDER.exec(segments[1] ?? "");
  return match ? Number(match[1]) : null;
}
