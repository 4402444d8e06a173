import type { SessionInfo } from "../../src/job-wire.js";
import { api, ApiCallError } from "./dashboard-client.js";

/** Whether this browser may see the dashboard, and what it may do there. */
export class SessionState {
  info = $state<SessionInfo | null>(null);
  problem = $state<string | null>(null);
  busy = $state(false);

  get ready(): boolean {
    return this.info?.authenticated === true;
  }

  async load(): Promise<void> {
    try {
      this.info = await api.session();
      this.problem = null;
    } catch (err) {
      this.problem = err instanceof Error ? err.message : String(err);
    }
  }

  async login(token: string): Promise<boolean> {
    this.busy = true;
    try {
      await api.login(token);
      await this.load();
      return this.ready;
    } catch (err) {
      this.problem = err instanceof ApiCallError && err.status === 401 ? "That token is not right." : String(err);
      return false;
    } finally {
      this.busy = false;
    }
  }

  /**
   * Logs in with the token of a login link (`/#token=…`, which the launcher prints) and takes it
   * out of the address bar and the history. A fragment never reaches a server or its logs.
   */
  async loginFromLink(): Promise<void> {
    const token = new URLSearchParams(location.hash.slice(1)).get("token");
    if (!token) return;
    history.replaceState(history.state, "", location.pathname + location.search);
    if (this.info?.auth_required && !this.ready) await this.login(token);
  }

  async logout(): Promise<void> {
    await api.logout();
    location.assign("/");
  }
}
