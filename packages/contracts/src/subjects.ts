/**
 * NATS names. Streams, buckets and stores are created by the provisioner (@trainyard/runtime
 * `provisionTopology`), durable consumers by the service that reads them; these constants are the
 * only spelling.
 */

/** Commands that move one job between services (limits retention, dedupe by job id). */
export const TRAIN_STREAM = "TRAIN";
/** Facts about jobs, ordered per stream: progress, completion, failure. */
export const JOB_EVENTS_STREAM = "JOB_EVENTS";

export const Subject = {
  /** gateway → dataset: a validated REST request (callback secret excluded). */
  trainRequested: "train.requested",
  /** dataset → scheduler: the archive is validated and stored in the datasets object store. */
  datasetReady: "train.dataset.ready",
  /** scheduler → one trainer-agent. */
  assignment: (agentId: string) => `train.assign.${agentId}`,
  assignmentWildcard: "train.assign.*",
  /** gateway → notifier: send a logged callback again (operator action). */
  redeliverCallback: "train.callbacks.redeliver",
  /** any service → notifier, dashboard, scheduler. */
  jobEvent: (jobId: string, type: string) => `job.events.${jobId}.${type}`,
  jobEventWildcard: "job.events.>",
  terminalJobEvents: ["job.events.*.completed", "job.events.*.failed"],
} as const;

/**
 * Message id of a job's one terminal event (`completed` or `failed`, cancellation included):
 * whichever service publishes first wins, JetStream drops the others.
 */
export const terminalEventId = (jobId: string): string => `${jobId}:terminal`;

export const Consumer = {
  dataset: "dataset",
  scheduler: "scheduler",
  schedulerReleases: "scheduler-releases",
  agent: (agentId: string) => `agent-${agentId}`,
  notifier: "notifier",
  notifierRedeliveries: "notifier-redeliveries",
  dashboard: "dashboard-projection",
  dashboardRequests: "dashboard-requests",
} as const;

/** Key-value buckets and object stores, each with one owner that writes it. */
export const Bucket = {
  /** owner: gateway. job id → callback url and secret (read by the notifier). */
  callbackTargets: "callback-targets",
  /**
   * owner: gateway. job id → cancellation request. The dataset service, the scheduler and the
   * agents check it before each step; agents watch it to stop a running trainer.
   */
  cancellations: "cancellations",
  /**
   * owner: whoever ends a job (the gateway's cancel, the dataset service, the scheduler, the
   * agents). job id → its one outcome (`completed`, `failed` or `cancelled`) as a
   * `JobOutcomeRecord`: the first claim wins, so a cancel racing a completion and the events they
   * publish agree; an agent's claim names its run, and runs the scheduler replaced are fenced out.
   */
  jobOutcomes: "job-outcomes",
  /** owner: trainer-agents. agent id → heartbeat; entries expire when an agent stops. */
  agents: "agents",
  /** owner: scheduler. `<agent_id>.<slot_index>` → the job holding that slot (a lease). */
  assignments: "assignments",
  /** owner: scheduler. job id → QueueEntry of a job waiting for a slot. */
  queue: "queue",
  /** owner: scheduler replicas. `leader` → the replica allowed to place jobs; expires unless renewed. */
  schedulerLeader: "scheduler-leader",
  /** owner: dataset. `sha256/<hex>.zip`: each validated archive once per content digest, fetched by the agent. */
  datasets: "datasets",
  /** owner: trainer-agents. `<job_id>/attempt-<n>/<file>` (see `runArtifact`): last.pt, best.pt, plots, results.csv, logs. */
  artifacts: "artifacts",
} as const;
