import type { Logger } from "@trainyard/runtime";
import type { ArchiveMeta, ArchiveObjects } from "./adapters/archive-objects.js";

export interface ArchiveSweepDeps {
  archives: Pick<ArchiveObjects, "list" | "deleteIfUnchanged" | "purgeChunks">;
  /**
   * Whether the scheduler has taken in every `train.dataset.ready` published so far (its intake
   * consumer has nothing pending or unacknowledged): then every job handed on is in the queue.
   */
  schedulerCaughtUp(): Promise<boolean>;
  /** The archives (object names) of the jobs in the scheduler's queue: waiting, placed or running. */
  archivesInQueue(): Promise<Set<string>>;
  /**
   * How long an archive is kept after a job took it into use, whatever the queue says: covers a
   * job between the dataset service's hand-over and the scheduler's queue.
   */
  graceMs: number;
  now(): number;
  log: Logger;
}

/**
 * The archives no job needs any more: not deleted, named by no queue entry, and last taken into
 * use before `cutoff`. Two jobs on the same archive share it, so it stays while either is queued.
 */
export function archivesToDelete(archives: ArchiveMeta[], inQueue: Set<string>, cutoff: number): ArchiveMeta[] {
  return archives.filter((archive) => !archive.deleted && !inQueue.has(archive.name) && archive.usedAt < cutoff);
}

/**
 * One sweep of the datasets store: deletes each archive that no queued or running job needs
 * (`archivesToDelete`). The cutoff is taken before the scheduler's intake is checked, and the
 * queue read after: a job whose dataset was handed on before the cutoff is then in the queue
 * read (or finished), and one taken into use since has a later `usedAt`. Each delete is a
 * compare-and-set on the revision listed, so a reuse racing the sweep keeps its archive. With
 * `purgeDeleted` (the first sweep of a process), the chunks of archives deleted earlier are
 * purged again, in case a crash cut a deletion short. Resolves to the names deleted.
 */
export async function sweepArchives(deps: ArchiveSweepDeps, opts: { purgeDeleted?: boolean } = {}): Promise<string[]> {
  const cutoff = deps.now() - deps.graceMs;
  if (!(await deps.schedulerCaughtUp())) {
    deps.log.debug("archive sweep skipped: the scheduler has not taken in every ready dataset yet");
    return [];
  }
  const inQueue = await deps.archivesInQueue();
  const archives = await deps.archives.list();
  const deleted: string[] = [];
  for (const archive of archivesToDelete(archives, inQueue, cutoff)) {
    if (await deps.archives.deleteIfUnchanged(archive)) {
      deleted.push(archive.name);
      deps.log.info(
        { object: archive.name, used_at: new Date(archive.usedAt).toISOString() },
        "dataset archive deleted: no queued or running job needs it",
      );
    }
  }
  if (opts.purgeDeleted) {
    for (const archive of archives) if (archive.deleted) await deps.archives.purgeChunks(archive);
  }
  return deleted;
}
