export const FAULT_KINDS = ["500", "429", "timeout", "malformed", "cut", "stall", "slow"] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface FaultSpec {
  kind: FaultKind;
  rate: number;
  provider?: string;
  retryAfterS?: number;
}

/**
 * Parses `x-tollgate-sim-fault: <kind>[@<rate>][;provider=<name>][;retry_after=<s>]`, several
 * separated by commas. Unknown parts are ignored rather than rejected: this is a test hook, and a typo
 * should not turn into a 400 on the real request path.
 */
export function parseFaults(header: string | undefined | null): FaultSpec[] {
  if (!header) return [];
  const specs: FaultSpec[] = [];
  for (const item of header.split(",").slice(0, 8)) {
    const [head = "", ...options] = item.split(";").map((part) => part.trim());
    const [kindText = "", rateText] = head.split("@");
    const kind = FAULT_KINDS.find((k) => k === kindText.trim());
    if (!kind) continue;
    const rate = rateText === undefined ? 1 : Number(rateText);
    const spec: FaultSpec = { kind, rate: Number.isFinite(rate) ? Math.min(Math.max(rate, 0), 1) : 1 };
    for (const option of options) {
      const [key, value = ""] = option.split("=").map((s) => s.trim());
      if (key === "provider" && value) spec.provider = value;
      if (key === "retry_after" && /^\d{1,3}$/.test(value)) spec.retryAfterS = Number(value);
    }
    specs.push(spec);
  }
  return specs;
}

/** The fault (if any) that fires for this call; `random` is injectable so tests are deterministic. */
export function pickFault(specs: FaultSpec[], provider: string, random: () => number = Math.random): FaultSpec | undefined {
  return specs.find((spec) => (!spec.provider || spec.provider === provider) && random() < spec.rate);
}
