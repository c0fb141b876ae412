import { newSpanId } from "./trace-context";

/** OTLP's span kinds and status codes, as the numbers the protocol carries. */
export const SpanKind = { INTERNAL: 1, SERVER: 2, CLIENT: 3 } as const;
export type SpanKindValue = (typeof SpanKind)[keyof typeof SpanKind];
export const StatusCode = { UNSET: 0, OK: 1, ERROR: 2 } as const;
export type StatusCodeValue = (typeof StatusCode)[keyof typeof StatusCode];

export type AttributeValue = string | number | boolean | string[];

/** Where ended spans go: the request's trace hands them to the isolate's exporter. */
export type SpanSink = (span: Span) => void;

let created = 0;
/** Spans built in this isolate: with no endpoint configured it must stay 0 (the zero-cost promise). */
export const spansCreated = (): number => created;

/**
 * One span: a name, a kind, a time range and attributes. Integers stay integers (OTLP intValue), other
 * numbers are doubles. Ending twice is a no-op, so every exit path may end it without bookkeeping.
 */
export class Span {
  readonly spanId = newSpanId();
  readonly attributes = new Map<string, AttributeValue>();
  /** Attributes that must go out as doubles even when the value happens to be whole (a cost of $0). */
  readonly doubles = new Set<string>();
  readonly startMs: number;
  endMs: number | undefined;
  status: { code: StatusCodeValue; message?: string } = { code: StatusCode.UNSET };

  constructor(
    readonly traceId: string,
    readonly parentSpanId: string | undefined,
    public name: string,
    readonly kind: SpanKindValue,
    private readonly sink: SpanSink,
    startMs = Date.now(),
  ) {
    created++;
    this.startMs = startMs;
  }

  set(key: string, value: AttributeValue | undefined | null): this {
    if (value !== undefined && value !== null) this.attributes.set(key, value);
    return this;
  }

  setDouble(key: string, value: number | undefined | null): this {
    if (value === undefined || value === null || !Number.isFinite(value)) return this;
    this.doubles.add(key);
    return this.set(key, value);
  }

  /** Marks the span failed; `errorType` is the low-cardinality error.type the conventions ask for. */
  fail(errorKey: string, errorType: string, message?: string): this {
    this.set(errorKey, errorType);
    this.status = { code: StatusCode.ERROR, message: message?.slice(0, 256) };
    return this;
  }

  get ended(): boolean {
    return this.endMs !== undefined;
  }

  end(endMs = Date.now()): void {
    if (this.endMs !== undefined) return;
    this.endMs = Math.max(endMs, this.startMs);
    this.sink(this);
  }
}
