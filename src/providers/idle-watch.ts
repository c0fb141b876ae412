/**
 * The longest gap allowed between two chunks of a stream, with one timer per stream instead of a
 * setTimeout/clearTimeout pair and a Promise.race per chunk. The timer is armed when a read starts
 * with none armed; when it fires it re-arms itself for what is left of the pending read's allowance,
 * or (no read pending) lets the next read re-arm it, or, the pending read being `ms` old, cancels the
 * reader: that read then ends as done, and `expired` tells the caller it was the timeout.
 */
export class IdleWatch {
  private pendingSince = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private reader: ReadableStreamDefaultReader<unknown> | undefined;
  expired = false;

  constructor(
    private readonly ms: number | undefined,
    readonly message: () => string,
  ) {}

  read<T>(reader: ReadableStreamDefaultReader<T>): Promise<ReadableStreamReadResult<T>> {
    const ms = this.ms;
    if (!ms) return reader.read();
    this.reader = reader;
    this.pendingSince = Date.now();
    if (this.timer === undefined) this.arm(ms);
    return reader.read().then((result) => {
      this.pendingSince = 0;
      return result;
    });
  }

  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(delay: number): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (!this.pendingSince || !this.ms) return;
      const left = this.pendingSince + this.ms - Date.now();
      if (left > 0) return this.arm(left);
      this.expired = true;
      this.reader?.cancel().catch(() => undefined);
    }, delay);
  }
}
