// How many adverts a matchmaker answers at once. Every advert being answered holds its promises,
// its claim and its envelope on the heap and waits on Redis; starting one for every message NATS
// delivers turned an overload into a backlog of live heap that each collection copied, and a
// matchmaker that met other load at its half-peak rate fell behind until answers took seconds
// (bench/README.md). Above the cap, adverts wait here as the messages NATS delivered (a few hundred
// bytes each, nothing parsed) and are taken in arrival order as answers finish, so an overload is
// answered at the machine's rate instead of collapsing. No client is imported: the service hands
// in the messages and the function that answers one.

export interface AdvertAdmissionOptions<T> {
  /** Adverts answered at once; the rest wait. */
  readonly maxInFlight: number;
  /**
   * An advert that waited here longer than this is not answered: its pilot has stopped waiting for
   * the reply, and a job claimed for it would reach nobody and stay leased until its lease ran out.
   */
  readonly staleMs: number;
  /** Answers one advert; `waitedMs`: how long it waited here for its place (0 when answered on arrival). */
  readonly answer: (item: T, waitedMs: number) => Promise<void>;
  /** Told of each advert dropped for its wait (counted by the caller). */
  readonly dropped: (item: T, waitedMs: number) => void;
  /** Milliseconds, monotonic; tests pass their own. */
  readonly now?: () => number;
}

interface Waiting<T> {
  readonly item: T;
  readonly at: number;
}

export class AdvertAdmission<T> {
  private readonly waitingQueue: Array<Waiting<T> | undefined> = [];
  /** Index of the oldest waiting advert in `waitingQueue` (taken by index, not shift(): a backlog may hold thousands). */
  private head = 0;
  private running = 0;
  private highest = 0;
  private idleWaiters: Array<() => void> = [];
  private readonly now: () => number;
  private readonly finished = (): void => this.done();

  constructor(private readonly o: AdvertAdmissionOptions<T>) {
    if (!Number.isInteger(o.maxInFlight) || o.maxInFlight < 1) throw new Error(`maxInFlight must be a positive integer, got ${o.maxInFlight}`);
    this.now = o.now ?? (() => performance.now());
  }

  /** Adverts being answered now. */
  get inFlight(): number {
    return this.running;
  }

  /** Adverts received and not taken yet. */
  get waiting(): number {
    return this.waitingQueue.length - this.head;
  }

  /** The most adverts ever answered at once by this instance. */
  get peak(): number {
    return this.highest;
  }

  /** An advert as it arrives: answered at once below the cap (nothing allocated for it here), else queued. */
  offer(item: T): void {
    if (this.running < this.o.maxInFlight && this.waiting === 0) this.start(item);
    else this.waitingQueue.push({ item, at: this.now() });
  }

  /** Resolves once nothing is answered or waiting (the service's stop, after it unsubscribed). */
  idle(): Promise<void> {
    if (this.running === 0 && this.waiting === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private start(item: T, waitedMs = 0): void {
    this.running++;
    if (this.running > this.highest) this.highest = this.running;
    let p: Promise<void>;
    try {
      p = this.o.answer(item, waitedMs);
    } catch {
      p = Promise.resolve();
    }
    // The answer reports its own failures (an error reply); one that throws must not stop the queue.
    p.then(this.finished, this.finished);
  }

  private done(): void {
    this.running--;
    while (this.running < this.o.maxInFlight && this.waiting > 0) {
      const w = this.waitingQueue[this.head]!;
      this.waitingQueue[this.head++] = undefined;
      const waited = this.now() - w.at;
      if (waited > this.o.staleMs) this.o.dropped(w.item, waited);
      else this.start(w.item, waited);
    }
    if (this.waiting === 0 && this.head > 0) {
      this.waitingQueue.length = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.waitingQueue.length) {
      // Drop the taken slots now and then so a long backlog does not keep its whole history.
      this.waitingQueue.splice(0, this.head);
      this.head = 0;
    }
    if (this.running === 0 && this.waiting === 0 && this.idleWaiters.length > 0) {
      const ws = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of ws) w();
    }
  }
}
