/**
 * The longest gap allowed between two chunks of a stream, with one timer per stream instead of a
 * setTimeout/clearTimeout pair and a fresh promise per chunk. The timer is armed when a read starts
 * with none armed; when it fires it fails the read pending since `ms` ago, or re-arms itself for what
 * is left of the pending read's allowance, or (no read pending) lets the next read re-arm it.
 */
export class IdleWatch {
  private pendingSince = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private fail: (error: Error) => void = () => undefined;
  private failed: Promise<never> | undefined;

  constructor(
    private readonly ms: number | undefined,
    private readonly message: () => string,
  ) {}

  read<T>(reader: ReadableStreamDefaultReader<T>): Promise<ReadableStreamReadResult<T>> {
    const ms = this.ms;
    if (!ms) return reader.read();
    this.pendingSince = Date.now();
    if (!this.failed) {
      this.failed = new Promise<never>((_, reject) => (this.fail = reject));
      // Rejected only while a read races it, but never left unhandled.
      this.failed.catch(() => undefined);
    }
    if (this.timer === undefined) this.arm(ms);
    return Promise.race([
      reader.read().then((result) => {
        this.pendingSince = 0;
        return result;
      }),
      this.failed,
    ]);
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
      if (left > 0) this.arm(left);
      else this.fail(new Error(this.message()));
    }, delay);
  }
}
