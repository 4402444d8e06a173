import { PROJECTION_DB } from "@trainyard/contracts";
import type { Logger } from "@trainyard/runtime";
import type { MongoClient } from "mongodb";
import { AGENTS_COLLECTION, AgentRecord } from "../projected-job.js";

/** The `agents` collection: each agent's last heartbeat, kept after the KV entry expires. */
export interface AgentStore {
  save(record: AgentRecord): Promise<void>;
  /** Agents whose last heartbeat is newer than `since`. */
  seenSince(since: Date): Promise<AgentRecord[]>;
}

export function openAgentStore(client: MongoClient, log: Logger): AgentStore {
  const agents = client.db(PROJECTION_DB).collection<AgentRecord>(AGENTS_COLLECTION);
  return {
    async save(record) {
      const { _id, ...fields } = record;
      await agents.replaceOne({ _id }, fields, { upsert: true });
    },
    async seenSince(since) {
      // seen_at is an ISO string in UTC, so text order is time order
      const docs = await agents.find({ seen_at: { $gt: since.toISOString() } }).toArray();
      return docs.flatMap((doc) => {
        const parsed = AgentRecord.safeParse(doc);
        if (parsed.success) return [parsed.data];
        log.error({ agent_id: doc._id, issues: parsed.error.issues }, "agent document does not match its schema");
        return [];
      });
    },
  };
}
