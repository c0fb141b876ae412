/**
 * W3C Trace Context (`traceparent`): version 00, a 32-hex trace id and a 16-hex parent id, neither all
 * zeros, and two hex flag digits. A malformed header is ignored (the request starts a trace of its own),
 * as the recommendation says: a bad header from a client must not break or hijack tracing.
 */
export interface TraceParent {
  traceId: string;
  parentSpanId: string;
  sampled: boolean;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ZEROS = /^0+$/;

export function parseTraceparent(header: string | undefined | null): TraceParent | undefined {
  if (!header) return undefined;
  const match = TRACEPARENT.exec(header.trim());
  if (!match) return undefined;
  const [, version = "", traceId = "", parentSpanId = "", flags = "", rest] = match;
  // Version ff is invalid; version 00 has exactly four fields (a future version may append more).
  if (version === "ff" || (version === "00" && rest !== undefined)) return undefined;
  if (ZEROS.test(traceId) || ZEROS.test(parentSpanId)) return undefined;
  return { traceId, parentSpanId, sampled: (Number.parseInt(flags, 16) & 1) === 1 };
}

export function formatTraceparent(traceId: string, spanId: string): string {
  return `00-${traceId}-${spanId}-01`;
}

function randomHex(bytes: number): string {
  const buffer = crypto.getRandomValues(new Uint8Array(bytes));
  let hex = "";
  for (const byte of buffer) hex += byte.toString(16).padStart(2, "0");
  // All zeros is the one invalid id; the odds are 2^-64 at worst, and the fix is cheap.
  return ZEROS.test(hex) ? `${hex.slice(0, -1)}1` : hex;
}

export const newTraceId = (): string => randomHex(16);
export const newSpanId = (): string => randomHex(8);
