import { encodeSpans, type Resource } from "./otlp-json";
import type { Span } from "./span";

/** How much the isolate holds and sends: bounded in spans, in bytes per POST and in time. */
export const EXPORT_LIMITS = {
  /** Spans buffered in the isolate; beyond that new spans are dropped (and counted), never queued. */
  maxBuffered: 2048,
  /** Spans per POST. */
  maxBatch: 256,
  /** How long a flush waits for other requests' spans to join its batch. */
  lingerMs: 200,
  /** One POST's whole budget: a slow collector costs this much background time at most. */
  timeoutMs: 5_000,
};

export interface ExporterStats {
  exported: number;
  dropped: number;
  failedBatches: number;
}

/** OTEL_EXPORTER_OTLP_HEADERS: `k=v,k2=v2`, values percent-decoded; malformed pairs are skipped. */
export function parseOtlpHeaders(raw: string | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const pair of (raw ?? "").split(",")) {
    const at = pair.indexOf("=");
    if (at <= 0) continue;
    const key = pair.slice(0, at).trim();
    let value = pair.slice(at + 1).trim();
    try {
      value = decodeURIComponent(value);
    } catch {
      // Not percent-encoded after all: the raw text is the value.
    }
    if (key) headers[key] = value;
  }
  return headers;
}

/** `<endpoint>/v1/traces`, as the OTLP exporter spec builds it from OTEL_EXPORTER_OTLP_ENDPOINT. */
export function tracesUrl(endpoint: string): string {
  return `${endpoint.replace(/\/+$/, "")}/v1/traces`;
}

/**
 * The isolate's span buffer. Requests add ended spans and ask for a flush through `waitUntil`, so an
 * export never sits on a response; one flush runs at a time and drains the buffer in batches. A batch
 * the collector refuses, or that times out, is dropped and counted: no retry queue to grow without end.
 */
export class SpanExporter {
  private buffer: Span[] = [];
  private flushing: Promise<void> | undefined;
  readonly stats: ExporterStats = { exported: 0, dropped: 0, failedBatches: 0 };

  constructor(
    readonly url: string,
    private readonly headers: Record<string, string>,
    private readonly resource: Resource,
    private readonly send: typeof fetch = (input, init) => fetch(input, init),
  ) {}

  add(span: Span): void {
    if (this.buffer.length >= EXPORT_LIMITS.maxBuffered) {
      this.stats.dropped++;
      return;
    }
    this.buffer.push(span);
  }

  /** Starts a flush unless one is running (it will pick these spans up); hands it to `waitUntil`. */
  flushSoon(waitUntil: (promise: Promise<unknown>) => void): void {
    if (this.flushing || this.buffer.length === 0) return;
    this.flushing = this.drain().finally(() => {
      this.flushing = undefined;
    });
    waitUntil(this.flushing);
  }

  private async drain(): Promise<void> {
    if (this.buffer.length < EXPORT_LIMITS.maxBatch) await new Promise((resolve) => setTimeout(resolve, EXPORT_LIMITS.lingerMs));
    while (this.buffer.length > 0) {
      const batch = this.buffer.splice(0, EXPORT_LIMITS.maxBatch);
      if (!(await this.post(batch))) {
        this.stats.dropped += batch.length;
        this.stats.failedBatches++;
        console.warn(JSON.stringify({ level: "warn", msg: "otlp export failed; batch dropped", url: this.url, spans: batch.length, dropped_total: this.stats.dropped }));
      } else {
        this.stats.exported += batch.length;
      }
    }
  }

  private async post(batch: Span[]): Promise<boolean> {
    try {
      const response = await this.send(this.url, {
        method: "POST",
        headers: { ...this.headers, "content-type": "application/json" },
        body: JSON.stringify(encodeSpans(this.resource, batch)),
        signal: AbortSignal.timeout(EXPORT_LIMITS.timeoutMs),
      });
      await response.body?.cancel().catch(() => undefined);
      return response.ok;
    } catch {
      return false;
    }
  }
}

const exporters = new Map<string, SpanExporter>();

/** The isolate's exporter for this configuration, or none when no endpoint is set (nothing is built). */
export function exporterFor(endpoint: string | undefined, rawHeaders: string | undefined, resource: Resource): SpanExporter | undefined {
  if (!endpoint) return undefined;
  const key = `${endpoint}\n${rawHeaders ?? ""}`;
  let exporter = exporters.get(key);
  if (!exporter) {
    exporter = new SpanExporter(tracesUrl(endpoint), parseOtlpHeaders(rawHeaders), resource);
    exporters.set(key, exporter);
  }
  return exporter;
}
