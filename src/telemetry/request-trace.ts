import { ATTR_DEPLOYMENT_ENVIRONMENT_NAME, ATTR_SERVICE_NAME } from "./semconv";
import { Span, SpanKind, type SpanKindValue } from "./span";
import { exporterFor, type SpanExporter } from "./span-exporter";
import { formatTraceparent, newTraceId, parseTraceparent } from "./trace-context";

export interface TraceConfig {
  OTEL_EXPORTER_OTLP_ENDPOINT?: string;
  OTEL_EXPORTER_OTLP_HEADERS?: string;
  ENVIRONMENT?: string;
}

/**
 * One request's trace: its SERVER span, the spans under it, and where they go when they end. It exists
 * only when an OTLP endpoint is configured; everything else holds it as an optional, so a gateway with
 * no endpoint builds no span, no id and no buffer.
 */
export class RequestTrace {
  readonly server: Span;
  private finished = false;

  private constructor(
    private readonly exporter: SpanExporter,
    traceId: string,
    parentSpanId: string | undefined,
    name: string,
    private readonly waitUntil: (promise: Promise<unknown>) => void,
    /** Whether message content may be recorded: the tenant's policy, known only after auth. */
    readonly contentAllowed: () => boolean,
  ) {
    this.server = new Span(traceId, parentSpanId, name, SpanKind.SERVER, this.sink);
  }

  /** A trace for an incoming request, continuing the caller's `traceparent` when it is well formed. */
  static start(config: TraceConfig, options: { name: string; traceparent?: string | null; waitUntil: (promise: Promise<unknown>) => void; contentAllowed: () => boolean }): RequestTrace | undefined {
    const exporter = exporterFor(config.OTEL_EXPORTER_OTLP_ENDPOINT, config.OTEL_EXPORTER_OTLP_HEADERS, {
      attributes: { [ATTR_SERVICE_NAME]: "tollgate", [ATTR_DEPLOYMENT_ENVIRONMENT_NAME]: config.ENVIRONMENT ?? "unknown" },
    });
    if (!exporter) return undefined;
    const parent = parseTraceparent(options.traceparent);
    return new RequestTrace(exporter, parent?.traceId ?? newTraceId(), parent?.parentSpanId, options.name, options.waitUntil, options.contentAllowed);
  }

  private readonly sink = (span: Span): void => {
    this.exporter.add(span);
    // A span that ends after its request (a stream's, a late tool call) flushes on its own.
    if (this.finished) this.exporter.flushSoon(this.waitUntil);
  };

  get traceId(): string {
    return this.server.traceId;
  }

  /** A span under the server span. */
  child(name: string, kind: SpanKindValue): Span {
    return new Span(this.server.traceId, this.server.spanId, name, kind, this.sink);
  }

  /** The response's `traceparent`: the caller learns the trace and the gateway's span in it. */
  traceparent(): string {
    return formatTraceparent(this.server.traceId, this.server.spanId);
  }

  /** Ends the server span and sends what the request produced, off the response's path. */
  finish(): void {
    this.finished = true;
    this.server.end();
    this.exporter.flushSoon(this.waitUntil);
  }
}
