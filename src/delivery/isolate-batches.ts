/**
 * Background work one isolate sends in batches instead of one call per request (breaker outcomes,
 * ledger rows). The request that opens a key's batch sends it `delayMs` later, inside its own
 * waitUntil: a Worker may not do I/O for another request. A full batch, an urgent item, or a batch
 * whose opener was cut short (older than four delays) is sent at once by the request that adds to it,
 * everything queued before it included, so the order of a key's items holds.
 */
export class IsolateBatches<K, T> {
  private readonly open = new Map<K, { items: T[]; openedAt: number }>();

  constructor(
    private readonly delayMs: number,
    private readonly max: number,
  ) {}

  /** Queues the item; the promise is the sending this request owes, for its waitUntil. */
  add(key: K, item: T, send: (items: T[]) => Promise<void>, urgent = false, now = Date.now()): Promise<void> {
    const current = this.open.get(key);
    if (current) {
      current.items.push(item);
      const due = urgent || current.items.length >= this.max || now - current.openedAt > 4 * this.delayMs;
      return due ? send(this.take(key, current)) : Promise.resolve();
    }
    const batch = { items: [item], openedAt: now };
    this.open.set(key, batch);
    if (urgent) return send(this.take(key, batch));
    return new Promise((resolve) => setTimeout(resolve, this.delayMs)).then(() => {
      const items = this.take(key, batch);
      return items.length ? send(items) : undefined;
    });
  }

  clear(): void {
    this.open.clear();
  }

  private take(key: K, batch: { items: T[] }): T[] {
    if (this.open.get(key) === batch) this.open.delete(key);
    return batch.items.splice(0);
  }
}
