/**
 * The isolate's most recently used cache entries, bounded by their serialised size. A repeat of a hot
 * question is then answered without a KV round trip. Entries are immutable answers keyed by a hash
 * that names the tenant, so holding one here can never serve it to anyone else; the worst an
 * isolate-local copy does is serve an answer another isolate has since refreshed, which KV's own
 * edge caching does too.
 */
export class HotEntries<T> {
  private readonly entries = new Map<string, { value: T; bytes: number }>();
  private bytes = 0;

  constructor(private readonly maxBytes: number) {}

  get(key: string): T | undefined {
    const hit = this.entries.get(key);
    if (!hit) return undefined;
    // Re-inserting moves it to the end: Map order is the recency order.
    this.entries.delete(key);
    this.entries.set(key, hit);
    return hit.value;
  }

  set(key: string, value: T, bytes: number): void {
    this.delete(key);
    if (bytes > this.maxBytes / 8) return;
    this.entries.set(key, { value, bytes });
    this.bytes += bytes;
    for (const [oldest, entry] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(oldest);
      this.bytes -= entry.bytes;
    }
  }

  delete(key: string): void {
    const old = this.entries.get(key);
    if (!old) return;
    this.entries.delete(key);
    this.bytes -= old.bytes;
  }

  get size(): number {
    return this.entries.size;
  }
}
