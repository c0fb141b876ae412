import { findPii, type PiiKind } from "./pii-detectors";

const LABELS: Record<PiiKind, string> = { email: "EMAIL", phone: "PHONE", card: "CARD", iban: "IBAN", ssn: "SSN", nino: "NINO", secret: "SECRET" };

/** A placeholder as it appears in text: `[EMAIL_1]`. */
const PLACEHOLDER = /\[(?:EMAIL|PHONE|CARD|IBAN|SSN|NINO|SECRET)_\d{1,6}\]/g;

/**
 * Typed, numbered placeholders for one request. The same value always gets the same placeholder and
 * numbering follows first appearance, so two requests that differ only in the values redacted are the
 * same request afterwards (one cache entry, restored per caller). The values stay in this object,
 * in memory, for the request's lifetime: never in a cache, a log or the ledger.
 */
export class PiiPlaceholders {
  private readonly byValue = new Map<string, string>();
  private readonly byPlaceholder = new Map<string, string>();
  private readonly next = new Map<PiiKind, number>();
  /** Matches replaced, by kind (every occurrence counts). */
  readonly counts = new Map<PiiKind, number>();

  /** Replaces every match in `text`; returns the text unchanged when nothing matched. */
  redact(text: string): string {
    const matches = findPii(text);
    if (!matches.length) return text;
    let out = "";
    let at = 0;
    for (const match of matches) {
      out += text.slice(at, match.start) + this.placeholderFor(match.kind, text.slice(match.start, match.end));
      at = match.end;
      this.counts.set(match.kind, (this.counts.get(match.kind) ?? 0) + 1);
    }
    return out + text.slice(at);
  }

  /** Puts back the values this object replaced; anything else in brackets is left alone. */
  restore(text: string): string {
    if (!this.byPlaceholder.size) return text;
    return text.replace(PLACEHOLDER, (placeholder) => this.byPlaceholder.get(placeholder) ?? placeholder);
  }

  get total(): number {
    let sum = 0;
    for (const count of this.counts.values()) sum += count;
    return sum;
  }

  /** Later numbering starts after this object's, so output placeholders never collide with input ones. */
  continueFrom(other: PiiPlaceholders): this {
    for (const [kind, n] of other.next) this.next.set(kind, n);
    return this;
  }

  private placeholderFor(kind: PiiKind, value: string): string {
    const known = this.byValue.get(`${kind}\u0000${value}`);
    if (known) return known;
    const n = (this.next.get(kind) ?? 0) + 1;
    this.next.set(kind, n);
    const placeholder = `[${LABELS[kind]}_${n}]`;
    this.byValue.set(`${kind}\u0000${value}`, placeholder);
    this.byPlaceholder.set(placeholder, value);
    return placeholder;
  }
}

/** Could `tail` still grow into a placeholder? (`[`, `[EM`, `[EMAIL_1` yes; `[x` or anything with `]` no.) */
export function couldBePlaceholder(tail: string): boolean {
  return /^\[(?:[A-Z]{0,6}|[A-Z]{2,6}_\d{0,6})$/.test(tail);
}
