/**
 * Finds personal data and secrets in text. Each kind is a pattern plus, where one exists, the check
 * that tells a real value from a look-alike (Luhn for cards, mod-97 for IBANs, the never-issued
 * ranges for US SSNs and UK NINOs): a guardrail that redacts every 16-digit order number is one
 * nobody leaves on.
 */
export type PiiKind = "email" | "phone" | "card" | "iban" | "ssn" | "nino" | "secret";

export interface PiiMatch {
  kind: PiiKind;
  start: number;
  end: number;
}

interface Detector {
  kind: PiiKind;
  pattern: RegExp;
  /** The span to redact within the match (default: all of it), or undefined when the candidate is not real. */
  accept?: (match: RegExpExecArray) => { start: number; end: number } | undefined;
}

const digitsOf = (text: string): string => text.replace(/\D/g, "");

export function luhnValid(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return digits.length > 0 && sum % 10 === 0;
}

/** ISO 13616: move the country code and check digits to the end, letters to numbers, remainder 1 mod 97. */
export function ibanValid(compact: string): boolean {
  if (!/^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$/.test(compact)) return false;
  const rearranged = compact.slice(4) + compact.slice(0, 4);
  let remainder = 0;
  for (const ch of rearranged) {
    const value = ch >= "A" ? String(ch.charCodeAt(0) - 55) : ch;
    for (const digit of value) remainder = (remainder * 10 + Number(digit)) % 97;
  }
  return remainder === 1;
}

/** Bits per character: a random key scores above 3.5, a word or a repeated character far below. */
export function shannonEntropy(text: string): number {
  const counts = new Map<string, number>();
  for (const ch of text) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let bits = 0;
  for (const count of counts.values()) {
    const p = count / text.length;
    bits -= p * Math.log2(p);
  }
  return bits;
}

const whole = (match: RegExpExecArray) => ({ start: match.index, end: match.index + match[0].length });

/** An IBAN written in groups may be followed by an upper-case word: try the longest prefix that checks out. */
function acceptIban(match: RegExpExecArray): { start: number; end: number } | undefined {
  const raw = match[0];
  for (let end = raw.length; end >= 15; end--) {
    if (!/[A-Z0-9]/.test(raw[end - 1] ?? "") || /[A-Z0-9]/.test(raw[end] ?? "")) continue;
    if (ibanValid(raw.slice(0, end).replace(/ /g, ""))) return { start: match.index, end: match.index + end };
  }
  return undefined;
}

// Order matters: earlier detectors win an overlap (an API key can look like a phone number's digits,
// a card's digits like a phone number).
const DETECTORS: Detector[] = [
  { kind: "secret", pattern: /\b(?:sk-(?:proj-|ant-|live-|test-)?[A-Za-z0-9_-]{20,}|AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{36,}|xox[abprs]-[A-Za-z0-9-]{10,}|tg_[A-Za-z0-9]{20,})/g },
  {
    kind: "secret",
    pattern: /\b(?:api[_-]?key|apikey|key|token|access[_-]?token|auth[_-]?token|secret|client[_-]?secret|password|passwd)\s*[:=]\s*["']?([A-Za-z0-9_\-./+=]{16,})/gi,
    accept: (match) => {
      const value = match[1] ?? "";
      if (shannonEntropy(value) < 3.5) return undefined;
      const start = match.index + match[0].length - value.length;
      return { start, end: start + value.length };
    },
  },
  { kind: "email", pattern: /\b[A-Za-z0-9._%+-]+(?:'[A-Za-z0-9._%+-]+)*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}\b/g },
  { kind: "iban", pattern: /\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b/g, accept: acceptIban },
  { kind: "card", pattern: /(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])/g, accept: (match) => (luhnValid(digitsOf(match[0])) ? whole(match) : undefined) },
  {
    // Never issued: area 000, 666 or 900-999, group 00, serial 0000 (SSA). Only the dashed or spaced form.
    kind: "ssn",
    pattern: /\b(\d{3})([- ])(\d{2})\2(\d{4})\b/g,
    accept: (match) => {
      const area = Number(match[1]);
      if (area === 0 || area === 666 || area >= 900 || match[3] === "00" || match[4] === "0000") return undefined;
      return whole(match);
    },
  },
  {
    // HMRC: no D, F, I, Q, U or V in either prefix letter, no O second, never BG, GB, KN, NK, NT, TN or ZZ.
    kind: "nino",
    pattern: /\b([A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]) ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b/g,
    accept: (match) => (["BG", "GB", "KN", "NK", "NT", "TN", "ZZ"].includes(match[1] ?? "") ? undefined : whole(match)),
  },
  {
    // International (+ and 8-15 digits), North American (555) 123-4567 / 555-123-4567, UK 020 7946 0000.
    kind: "phone",
    pattern: /(?<![\w+])(?:\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){1,4}|\(\d{3}\) ?\d{3}[ .-]\d{4}|\d{3}[.-]\d{3}[.-]\d{4}|0\d{2,4} \d{3,4} \d{3,4})(?![\w-])/g,
    accept: (match) => {
      const count = digitsOf(match[0]).length;
      // National forms are 10 digits (North America) or 10-11 (UK); a longer run is something else.
      const ok = match[0].startsWith("+") ? count >= 8 && count <= 15 : count >= 10 && count <= 11;
      return ok ? whole(match) : undefined;
    },
  },
];

/** Every match, left to right, none overlapping (the earlier detector wins a tie). */
export function findPii(text: string): PiiMatch[] {
  const found: PiiMatch[] = [];
  for (const detector of DETECTORS) {
    for (const match of text.matchAll(detector.pattern)) {
      const exec = match as RegExpExecArray;
      const span = detector.accept ? detector.accept(exec) : whole(exec);
      if (!span) continue;
      if (found.some((f) => span.start < f.end && f.start < span.end)) continue;
      found.push({ kind: detector.kind, ...span });
    }
  }
  return found.sort((a, b) => a.start - b.start);
}
