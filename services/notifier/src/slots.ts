/** A counting semaphore: at most `size` holders at once, waiters served in arrival order. */
export class Slots {
  private free: number;
  private readonly waiting: Array<() => void> = [];

  constructor(size: number) {
    this.free = Math.max(1, size);
  }

  acquire(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }

  /** Lets every waiter through (on shutdown; they check for it and give their slot back). */
  releaseAll(): void {
    for (const next of this.waiting.splice(0)) {
      this.free--;
      next();
    }
  }
}
