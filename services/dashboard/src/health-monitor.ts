import type { Health } from "./job-wire.js";

/**
 * Checks MongoDB and NATS every `intervalMs` and reports a change, so the overview's health
 * indicator follows the dashboard's dependencies without each browser polling.
 */
export class HealthMonitor {
  #last: Health = { mongo: true, nats: true };
  readonly #timer: NodeJS.Timeout;

  constructor(
    private readonly checks: { mongo(): Promise<void>; nats(): boolean },
    private readonly changed: (health: Health) => void,
    intervalMs: number,
  ) {
    this.#timer = setInterval(() => void this.refresh(), intervalMs);
    this.#timer.unref();
  }

  get current(): Health {
    return this.#last;
  }

  /** Checks now; reports when the answer differs from the previous one. */
  async refresh(): Promise<Health> {
    const mongo = await this.checks.mongo().then(
      () => true,
      () => false,
    );
    const health = { mongo, nats: this.checks.nats() };
    if (health.mongo !== this.#last.mongo || health.nats !== this.#last.nats) {
      this.#last = health;
      this.changed(health);
    }
    return health;
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
