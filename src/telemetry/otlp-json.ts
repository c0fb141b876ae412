import type { AttributeValue, Span } from "./span";

/**
 * OTLP/HTTP JSON (the protobuf JSON mapping): ids as lowercase hex, 64-bit integers and nanosecond
 * times as decimal strings, attributes as {key, value: {stringValue | intValue | doubleValue |
 * boolValue | arrayValue}}. One resource, one scope, every span of the batch under them.
 */
type AnyValue = { stringValue: string } | { intValue: string } | { doubleValue: number } | { boolValue: boolean } | { arrayValue: { values: AnyValue[] } };
interface KeyValue {
  key: string;
  value: AnyValue;
}

export interface Resource {
  attributes: Record<string, string>;
}

const SCOPE = { name: "tollgate", version: "0.1.0" };

function anyValue(value: AttributeValue, double: boolean): AnyValue {
  if (typeof value === "string") return { stringValue: value };
  if (typeof value === "boolean") return { boolValue: value };
  if (typeof value === "number") return !double && Number.isSafeInteger(value) ? { intValue: String(value) } : { doubleValue: value };
  return { arrayValue: { values: value.map((item) => ({ stringValue: item })) } };
}

function keyValues(span: Span): KeyValue[] {
  const out: KeyValue[] = [];
  for (const [key, value] of span.attributes) out.push({ key, value: anyValue(value, span.doubles.has(key)) });
  return out;
}

const nanos = (ms: number): string => (ms === 0 ? "0" : `${Math.trunc(ms)}000000`);

export function encodeSpans(resource: Resource, spans: Span[]) {
  return {
    resourceSpans: [
      {
        resource: { attributes: Object.entries(resource.attributes).map(([key, value]) => ({ key, value: { stringValue: value } })) },
        scopeSpans: [
          {
            scope: SCOPE,
            spans: spans.map((span) => ({
              traceId: span.traceId,
              spanId: span.spanId,
              ...(span.parentSpanId ? { parentSpanId: span.parentSpanId } : {}),
              name: span.name,
              kind: span.kind,
              startTimeUnixNano: nanos(span.startMs),
              endTimeUnixNano: nanos(span.endMs ?? span.startMs),
              attributes: keyValues(span),
              status: span.status.message ? span.status : { code: span.status.code },
            })),
          },
        ],
      },
    ],
  };
}
