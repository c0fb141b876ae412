// A token count estimate for cl100k-style BPE tokenizers, in one pass over the UTF-16 code units and
// without a vocabulary (the cl100k table was 1.3 MB of the Worker's bundle). It mirrors the tokenizer's
// pre-split (words with their leading space, digits in threes, punctuation runs, whitespace runs) and
// charges each piece what BPE usually spends on it, rounded up on purpose: the Worker only needs counts
// for admission (a reservation that settlement corrects with the provider's usage) and for usage when a
// provider reports none. `bench/calibrate-tokens.mjs` measures it against gpt-tokenizer's cl100k_base;
// the figures are in bench/README.md and the bounds are held by test/unit/estimate-tokens.test.ts.
//
// No imports, so the calibration script can load this file in plain Node.

// Costs per piece, fitted by bench/calibrate-tokens.mjs (over-estimate on most texts, not by much).
const WORD_FREE_CHARS = 5; // an ASCII word this long or shorter is one token (the common words are)
const WORD_CHARS_PER_TOKEN = 4; // past that, rarer words and identifiers split into pieces this size
const CAPITALS_PER_TOKEN = 2; // an all-capitals run (an acronym) splits into pairs
const DIGITS_PER_TOKEN = 3; // cl100k splits numbers into groups of at most three digits
const PUNCT_CHARS_PER_TOKEN = 2; // runs like `."`, `**`, `://` merge, but code punctuation mostly does not
const CYRILLIC_CHAR = 0.6; // ~2 Cyrillic letters per token
const TWO_BYTE_CHAR = 1; // accented Latin (often split from its word), Greek, Hebrew, Arabic: ~1 token each
const THREE_BYTE_CHAR = 1.25; // CJK and most other scripts: one token per char, rarer ones two
const ASTRAL_PAIR = 3; // emoji and other 4-byte chars (a surrogate pair) take one to four byte tokens

// Character classes (plain numbers, not an enum: Node's type stripping runs this file as it is).
const LETTER = 0;
const DIGIT = 1;
const SPACE = 2;
const NEWLINE = 3;
const PUNCT = 4;
const WIDE = 5;

function kindOf(code: number): number {
  if ((code >= 97 && code <= 122) || (code >= 65 && code <= 90)) return LETTER;
  if (code >= 48 && code <= 57) return DIGIT;
  if (code === 32 || code === 9) return SPACE;
  if (code === 10 || code === 13) return NEWLINE;
  if (code < 128) return PUNCT;
  return WIDE;
}

function wideCost(code: number): number {
  if (code >= 0x400 && code <= 0x4ff) return CYRILLIC_CHAR;
  if (code < 0x800) return TWO_BYTE_CHAR;
  if (code >= 0xd800 && code <= 0xdbff) return ASTRAL_PAIR; // the high half; its low half costs nothing
  if (code >= 0xdc00 && code <= 0xdfff) return 0;
  return THREE_BYTE_CHAR;
}

const isUpper = (code: number) => code >= 65 && code <= 90;

// Common words are one token; acronyms split into pairs of capitals ("PG|DB|M"); longer words and
// identifiers into pieces of a few letters.
function wordCost(text: string, from: number, to: number): number {
  const length = to - from;
  if (length > 1 && isUpper(text.charCodeAt(from + 1))) {
    let capitals = 0;
    for (let k = from; k < to; k++) if (isUpper(text.charCodeAt(k))) capitals++;
    if (capitals === length) return Math.ceil(length / CAPITALS_PER_TOKEN);
  }
  return length <= WORD_FREE_CHARS ? 1 : 1 + Math.ceil((length - WORD_FREE_CHARS) / WORD_CHARS_PER_TOKEN);
}

/** An estimate of the cl100k_base token count of `text`, meant to be at or a little above it. */
export function estimateTokens(text: string): number {
  const n = text.length;
  let total = 0;
  let i = 0;
  while (i < n) {
    const code = text.charCodeAt(i);
    const kind = kindOf(code);
    let j = i + 1;
    if (kind === WIDE) {
      total += wideCost(code);
      i = j;
      continue;
    }
    while (j < n && kindOf(text.charCodeAt(j)) === kind) j++;
    const length = j - i;
    switch (kind) {
      case LETTER:
        total += wordCost(text, i, j);
        break;
      case DIGIT:
        total += Math.ceil(length / DIGITS_PER_TOKEN);
        break;
      case SPACE:
        // One space joins the word or punctuation after it, but not digits; a longer run (indentation)
        // is one token up to 16 spaces.
        if (length > 1) total += Math.ceil(length / 16);
        else if (j === n || kindOf(text.charCodeAt(j)) === DIGIT) total += 1;
        break;
      case NEWLINE:
        total += 1;
        break;
      case PUNCT:
        total += Math.ceil(length / PUNCT_CHARS_PER_TOKEN);
        break;
    }
    i = j;
  }
  return Math.ceil(total);
}
