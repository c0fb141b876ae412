/**
 * Concurrent identical misses in one isolate share one upstream call: the first request leads, the
 * others wait for its answer. A leader that fails settles with nothing, and the waiters make their
 * own calls. Waiting is bounded, so a leader that never settles (a bug, a hung stream) costs a
 * follower some latency, never the answer.
 */
export class SingleFlight<T> {
  private readonly flights = new Map<string, Promise<T | undefined>>();

  constructor(private readonly maxWaitMs: number) {}

  /** The in-flight answer for `key`, if another request is producing it. */
  join(key: string): Promise<T | undefined> | undefined {
    const flight = this.flights.get(key);
    if (!flight) return undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), this.maxWaitMs);
    });
    return Promise.race([flight, timeout]).finally(() => {
      if (timer !== undefined) clearTimeout(timer);
    });
  }

  /**
   * Registers the caller as the producer of `key`. `settle` hands the answer to the waiters; the
   * flight stays joinable until `until` resolves (e.g. the KV write), so a request arriving between
   * the answer and the write still gets it instead of calling upstream again.
   */
  lead(key: string): { settle: (value: T | undefined, until?: Promise<unknown>) => void } {
    let resolve: (value: T | undefined) => void = () => undefined;
    const flight = new Promise<T | undefined>((r) => {
      resolve = r;
    });
    this.flights.set(key, flight);
    let settled = false;
    return {
      settle: (value, until) => {
        if (settled) return;
        settled = true;
        resolve(value);
        const forget = () => {
          if (this.flights.get(key) === flight) this.flights.delete(key);
        };
        if (value === undefined || !until) forget();
        else void until.then(forget, forget);
      },
    };
  }

  get size(): number {
    return this.flights.size;
  }
}
