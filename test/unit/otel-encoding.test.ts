import { describe, expect, it } from "vitest";
import { encodeSpans } from "../../src/telemetry/otlp-json";
import { Span, SpanKind } from "../../src/telemetry/span";
import { parseOtlpHeaders, tracesUrl } from "../../src/telemetry/span-exporter";
import { formatTraceparent, newSpanId, newTraceId, parseTraceparent } from "../../src/telemetry/trace-context";

describe("W3C traceparent", () => {
  it("accepts a well-formed header, keeping the trace id and taking its span id as the parent", () => {
    expect(parseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")).toEqual({ traceId: "4bf92f3577b34da6a3ce929d0e0e4736", parentSpanId: "00f067aa0ba902b7", sampled: true });
    expect(parseTraceparent(" 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00 ")?.sampled).toBe(false);
    // A later version may append fields; version 00 may not.
    expect(parseTraceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra")?.traceId).toBe("4bf92f3577b34da6a3ce929d0e0e4736");
  });

  it("rejects malformed headers", () => {
    for (const bad of [
      undefined,
      "",
      "garbage",
      "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
      "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
      "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
      "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
    ]) {
      expect(parseTraceparent(bad), String(bad)).toBeUndefined();
    }
  });

  it("makes ids of the right width and formats a header the parser accepts", () => {
    const traceId = newTraceId();
    const spanId = newSpanId();
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(parseTraceparent(formatTraceparent(traceId, spanId))).toEqual({ traceId, parentSpanId: spanId, sampled: true });
  });
});

describe("OTLP exporter configuration", () => {
  it("parses OTEL_EXPORTER_OTLP_HEADERS as k=v pairs, percent-decoded, skipping malformed ones", () => {
    expect(parseOtlpHeaders("api-key=abc%20def, x-team = gw ,broken,=nokey,x-eq=a=b")).toEqual({ "api-key": "abc def", "x-team": "gw", "x-eq": "a=b" });
    expect(parseOtlpHeaders(undefined)).toEqual({});
  });

  it("appends /v1/traces to the endpoint", () => {
    expect(tracesUrl("http://collector:4318")).toBe("http://collector:4318/v1/traces");
    expect(tracesUrl("https://otlp.example.com/otel/")).toBe("https://otlp.example.com/otel/v1/traces");
  });
});

describe("OTLP/HTTP JSON encoding", () => {
  it("encodes ids as hex, times as nanosecond strings, and typed attribute values", () => {
    const ended: Span[] = [];
    const span = new Span("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", "chat fast", SpanKind.CLIENT, (s) => ended.push(s), 1_700_000_000_123);
    span.set("gen_ai.request.model", "fast").set("gen_ai.usage.input_tokens", 12).set("gen_ai.request.temperature", 0.5).set("gen_ai.response.finish_reasons", ["stop"]).set("flag", true).set("skipped", undefined);
    span.setDouble("tollgate.cost_usd", 0);
    span.fail("error.type", "500", "sim-a answered 500");
    span.end(1_700_000_000_456);
    span.end(1_800_000_000_000);
    expect(ended).toEqual([span]);
    const body = encodeSpans({ attributes: { "service.name": "tollgate" } }, ended);
    expect(body.resourceSpans[0]?.resource.attributes).toEqual([{ key: "service.name", value: { stringValue: "tollgate" } }]);
    expect(body.resourceSpans[0]?.scopeSpans[0]?.spans[0]).toEqual({
      traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
      spanId: span.spanId,
      parentSpanId: "00f067aa0ba902b7",
      name: "chat fast",
      kind: 3,
      startTimeUnixNano: "1700000000123000000",
      endTimeUnixNano: "1700000000456000000",
      attributes: [
        { key: "gen_ai.request.model", value: { stringValue: "fast" } },
        { key: "gen_ai.usage.input_tokens", value: { intValue: "12" } },
        { key: "gen_ai.request.temperature", value: { doubleValue: 0.5 } },
        { key: "gen_ai.response.finish_reasons", value: { arrayValue: { values: [{ stringValue: "stop" }] } } },
        { key: "flag", value: { boolValue: true } },
        { key: "tollgate.cost_usd", value: { doubleValue: 0 } },
        { key: "error.type", value: { stringValue: "500" } },
      ],
      status: { code: 2, message: "sim-a answered 500" },
    });
  });
});
