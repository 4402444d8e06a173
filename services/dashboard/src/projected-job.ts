import { AgentHeartbeat, ArtifactObjects, EpochMetrics, JobRecord } from "@trainyard/contracts";
import { z } from "zod";

// The documents the dashboard's projection keeps in MongoDB besides what the contracts define.

/** Per-epoch metric history, one document per job and epoch (`<job_id>:<epoch>`). */
export const EPOCHS_COLLECTION = "job_epochs";
/** The last heartbeat seen of every agent, kept after it expires from the KV bucket. */
export const AGENTS_COLLECTION = "agents";

/**
 * A job document as the dashboard writes it: the contract's `JobRecord` plus the artifact
 * object names of a completed job (the gateway ignores fields it does not know).
 */
export const ProjectedJob = JobRecord.extend({
  artifacts: ArtifactObjects.nullable().default(null),
});
export type ProjectedJob = z.infer<typeof ProjectedJob>;

/** The fields a list shows; the heavy ones (config, dataset, results) stay in the database. */
export const JobSummaryDoc = ProjectedJob.pick({
  _id: true,
  model_name: true,
  status: true,
  phase: true,
  progress: true,
  current_epoch: true,
  total_epochs: true,
  metrics: true,
  eta_seconds: true,
  created_at: true,
  started_at: true,
  finished_at: true,
  duration_seconds: true,
  agent_id: true,
  slot: true,
  error: true,
  last_event_seq: true,
});
export type JobSummaryDoc = z.infer<typeof JobSummaryDoc>;

/** One epoch of a job's metric history. `seq` is the stream sequence of the event that wrote it. */
export const EpochRecord = EpochMetrics.extend({
  _id: z.string(),
  job_id: z.uuid(),
  epoch: z.int().min(1),
  seq: z.int().min(1),
  at: z.date(),
});
export type EpochRecord = z.infer<typeof EpochRecord>;

/** An agent's last heartbeat; `gone_at` is set when it deregistered (its KV entry was deleted). */
export const AgentRecord = AgentHeartbeat.extend({
  _id: z.string(),
  gone_at: z.date().nullable().default(null),
});
export type AgentRecord = z.infer<typeof AgentRecord>;
