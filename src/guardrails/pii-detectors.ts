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

interface Span {
  start: number;
  end: number;
}

interface Detector {
  kind: PiiKind;
  /** A global pattern, or (for e-mail) a search of its own. */
  pattern: RegExp | ((text: string) => Span[]);
  /** The span to redact within the match (default: all of it), or undefined when the candidate is not real. */
  accept?: (match: RegExpExecArray) => Span | undefined;
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
  for (let i = 0; i < rearranged.length; i++) {
    const code = rearranged.charCodeAt(i);
    // A letter stands for two digits (A = 10 ... Z = 35), a digit for itself.
    remainder = code >= 65 ? (remainder * 100 + code - 55) % 97 : (remainder * 10 + code - 48) % 97;
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
function acceptIban(match: RegExpExecArray): Span | undefined {
  const raw = match[0];
  // Candidate ends: the end of the match, and every end of a group (a character before a space).
  for (let end = raw.length; end >= 15; end--) {
    if (end < raw.length && raw[end] !== " ") continue;
    if (ibanValid(raw.slice(0, end).replaceAll(" ", ""))) return { start: match.index, end: match.index + end };
  }
  return undefined;
}

const LOCAL_CHAR = /[A-Za-z0-9._%+'-]/;
const DOMAIN = /[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?){0,8}\.[A-Za-z]{2,24}(?![A-Za-z0-9-])/y;

/**
 * E-mail addresses are found from their `@` outwards, with the lengths RFC 5321 allows (64 for the
 * local part, 63 per label): a regex scanning every position would cost quadratic time on a hostile
 * megabyte of dots and letters.
 */
function findEmails(text: string): Span[] {
  const spans: Span[] = [];
  for (let at = text.indexOf("@"); at >= 0; at = text.indexOf("@", at + 1)) {
    let start = at;
    while (start > 0 && at - start < 64 && LOCAL_CHAR.test(text[start - 1] ?? "")) start--;
    const local = text.slice(start, at).replace(/^[.']+/, "");
    if (!local) continue;
    DOMAIN.lastIndex = at + 1;
    const domain = DOMAIN.exec(text);
    if (!domain) continue;
    spans.push({ start: at - local.length, end: at + 1 + domain[0].length });
  }
  return spans;
}

// Order matters: earlier detectors win an overlap (an API key can look like a phone number's digits,
// a card's digits like a phone number).
const DETECTORS: Detector[] = [
  { kind: "secret", pattern: /\b(?:sk-(?:proj-|ant-|live-|test-)?[A-Za-z0-9_-]{20,}|AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{36,}|xox[abprs]-[A-Za-z0-9-]{10,}|tg_[A-Za-z0-9]{20,})/g },
  {
    kind: "secret",
    pattern: /\b(?:api[_-]?key|apikey|key|token|access[_-]?token|auth[_-]?token|secret|client[_-]?secret|password|passwd)[ \t]{0,8}[:=][ \t]{0,8}["']?([A-Za-z0-9_\-./+=]{16,512})/gi,
    accept: (match) => {
      const value = match[1] ?? "";
      if (shannonEntropy(value) < 3.5) return undefined;
      const start = match.index + match[0].length - value.length;
      return { start, end: start + value.length };
    },
  },
  { kind: "email", pattern: (text) => findEmails(text) },
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
  // Which characters a match already covers: overlap checks stay linear however many matches there are.
  const taken = new Uint8Array(text.length);
  const add = (kind: PiiKind, span: Span): void => {
    for (let i = span.start; i < span.end; i++) if (taken[i]) return;
    taken.fill(1, span.start, span.end);
    found.push({ kind, ...span });
  };
  for (const detector of DETECTORS) {
    const { pattern } = detector;
    if (typeof pattern === "function") {
      for (const span of pattern(text)) add(detector.kind, span);
      continue;
    }
    for (const match of text.matchAll(pattern)) {
      const exec = match as RegExpExecArray;
      const span = detector.accept ? detector.accept(exec) : whole(exec);
      if (span) add(detector.kind, span);
    }
  }
  return found.sort((a, b) => a.start - b.start);
}
