import { AgentHeartbeat } from "@trainyard/contracts";
import type { Logger } from "@trainyard/runtime";
import type { AgentStore } from "./adapters/agent-store.js";
import { agentView, type AgentView } from "./agents.js";
import type { AgentRecord } from "./projected-job.js";

/** How long an agent that went silent is still listed (offline) on the overview. */
export const OFFLINE_AGENTS_KEPT_MS = 60 * 60 * 1000;

export interface AgentDirectoryDeps {
  store: AgentStore;
  log: Logger;
  /** The agents bucket's expiry: a heartbeat older than this means the agent is gone. */
  ttlMs: number;
  /** Called whenever the list the overview shows changed. */
  changed(agents: AgentView[]): void;
  now?: () => number;
}

/**
 * Every agent seen lately, from the agents KV bucket: each heartbeat is kept in memory (for the
 * live overview) and in the `agents` collection (so a restarted dashboard still lists hosts that
 * went silent). An agent is online while its heartbeat is fresh.
 */
export class AgentDirectory {
  readonly #agents = new Map<string, AgentRecord>();
  readonly #deps: AgentDirectoryDeps;
  readonly #now: () => number;
  #lastOnline = "";

  constructor(deps: AgentDirectoryDeps) {
    this.#deps = deps;
    this.#now = deps.now ?? Date.now;
  }

  /** Loads the agents the collection remembers. */
  async load(): Promise<void> {
    const since = new Date(this.#now() - OFFLINE_AGENTS_KEPT_MS);
    for (const record of await this.#deps.store.seenSince(since)) this.#agents.set(record._id, record);
    this.#lastOnline = this.#onlineKey();
  }

  /** A heartbeat (KV put); an entry that is not a heartbeat is logged and ignored. */
  async heartbeat(key: string, value: unknown): Promise<void> {
    const beat = AgentHeartbeat.safeParse(value);
    if (!beat.success) {
      this.#deps.log.warn({ key, issues: beat.error.issues }, "agents entry is not a heartbeat; ignored");
      return;
    }
    const record: AgentRecord = { ...beat.data, _id: key, gone_at: null };
    this.#agents.set(key, record);
    this.#publish();
    await this.#deps.store.save(record);
  }

  /** The agent deregistered (KV delete or purge). */
  async gone(key: string): Promise<void> {
    const record = this.#agents.get(key);
    if (!record || record.gone_at) return;
    const gone = { ...record, gone_at: new Date(this.#now()) };
    this.#agents.set(key, gone);
    this.#publish();
    await this.#deps.store.save(gone);
  }

  /** Re-checks which agents are online (heartbeats expire without any message); publishes on a change. */
  sweep(): void {
    if (this.#onlineKey() !== this.#lastOnline) this.#publish();
  }

  views(): AgentView[] {
    const now = this.#now();
    return [...this.#agents.values()]
      .filter((a) => now - Date.parse(a.seen_at) <= OFFLINE_AGENTS_KEPT_MS)
      .sort((a, b) => a.host.localeCompare(b.host) || a.agent_id.localeCompare(b.agent_id))
      .map((a) => agentView(a, { now, ttlMs: this.#deps.ttlMs, gone: a.gone_at !== null }));
  }

  #onlineKey(): string {
    return this.views()
      .map((a) => `${a.agent_id}:${a.online}`)
      .join(",");
  }

  #publish(): void {
    this.#lastOnline = this.#onlineKey();
    this.#deps.changed(this.views());
  }
}
