/** The current time, ticking once a second, for elapsed-time displays. */
export class Clock {
  now = $state(Date.now());

  constructor(intervalMs = 1_000) {
    setInterval(() => (this.now = Date.now()), intervalMs);
  }
}
