// A lexical veto on semantic-cache hits. Sentence embeddings place "capital of France" and
// "capital of Germany" closer together than many true paraphrases, so no cosine threshold
// separates them; a question that swaps a number, a name or a polarity is a different
// question whatever its vector says. This module has no imports on purpose: the Worker
// bundles it, and Node runs it directly (type stripping) in the benchmark.

export type NearMissReason = "numbers" | "entities" | "negation";

// Words capitalised for grammatical reasons rather than because they name something:
// "I", question words after a comma, the odd capitalised function word. Weekdays and months
// are deliberately absent: "on Monday" and "on Tuesday" are different questions.
const COMMON_WORDS = new Set(
  (
    "i im ive id ill me my mine we our you your he she it they them their his her its " +
    "a an the this that these those there here " +
    "what which who whom whose why how when where whether is are was were be been being " +
    "am do does did done have has had can could will would shall should may might must " +
    "and or but if so as of in on at to for from by with about into over under than then " +
    "not no yes ok okay please vs versus etc also any some all each every"
  ).split(" "),
);

// Spellings of one place that share no prefix, so the fuzzy match below cannot pair them.
// Word tables are read with own(): a plain object answers "constructor" or "toString" from its
// prototype, and those words do occur in questions.
const own = <T>(table: Readonly<Record<string, T>>, key: string): T | undefined => (Object.hasOwn(table, key) ? table[key] : undefined);

const ALIASES: Record<string, string> = {
  us: "usa", america: "usa", american: "usa", americans: "usa", uk: "britain", british: "britain",
};

const NEGATION_WORDS = new Set(
  (
    "not no never without nor none nobody nothing nowhere neither cannot cant dont doesnt didnt " +
    "isnt arent wasnt werent wont wouldnt shouldnt couldnt hasnt havent hadnt mustnt neednt aint"
  ).split(" "),
);

// Phrases that contain a negator but do not flip what is being asked: "is X safe or not?"
// asks the same as "is X safe?", an answer opening "No, ..." is negated by its body, and
// "no. 1" is a number.
const NEGATION_IDIOMS = new RegExp(
  [
    String.raw`\b(?:not only|no matter|no doubt|not sure|or not|why not|if not)\b`,
    String.raw`^\s*no\s*[,.!]`,
    String.raw`\bno\.\s*(?=\d)`,
  ].join("|"),
  "g",
);

const UNITS: Record<string, number> = {
  two: 2, three: 3, four: 4, five: 5, six: 6, seven: 7, eight: 8, nine: 9, ten: 10,
  eleven: 11, twelve: 12, thirteen: 13, fourteen: 14, fifteen: 15, sixteen: 16,
  seventeen: 17, eighteen: 18, nineteen: 19, twenty: 20, thirty: 30, forty: 40, fifty: 50,
  sixty: 60, seventy: 70, eighty: 80, ninety: 90,
};
const SCALES: Record<string, number> = { hundred: 100, thousand: 1e3, million: 1e6, billion: 1e9 };
// Ordinals are kept apart from cardinals ("1st" is not "1") but spelled and digit forms agree.
// "first" is left out because it is mostly "initially"; it only excuses a lone "1st".
const ORDINALS: Record<string, number> = {
  second: 2, third: 3, fourth: 4, fifth: 5, sixth: 6, seventh: 7, eighth: 8,
  ninth: 9, tenth: 10,
};
// "a month" and "1 month" are the same question; "one" alone is too often a pronoun to count.
const ONE_WORDS = new Set(["a", "an", "one", "single"]);

// Digits with optional thousands separators and decimals; a trailing k/m multiplies
// ("60k" = 60000) and any other glued suffix ("1st", "5g", "25kg") is dropped.
const NUMBER_RE = /\d+(?:,\d{3})*(?:\.\d+)?(?:([km])(?![a-z])|(st|nd|rd|th)\b)?/gi;
// "C#" and "C++" keep their symbols, or both would read as the letter "c".
const WORD_RE = /[\p{L}\p{N}]+(?:['’]\p{L}+)*(?:\+\+|#)?/gu;
const DOTTED_ACRONYM = /\b(?:\p{L}\.){2,}/gu;
const SENTENCE_END = /[.!?:;]["')\]]*$/;

interface Features {
  numbers: Set<string>;
  words: string[];
  // Every word, lower-cased, so a name in one question is found in the other even when the
  // other was typed in lower case ("whats the capital of france").
  tokens: Set<string>;
  byPrefix?: Map<string, string[]>;
  // Runs of adjacent name words ("donald trump", "great basin desert"), lower-cased.
  names: string[][];
  isName: boolean[];
  negated: boolean;
}

function extractNumbers(text: string, words: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (const m of /\d/.test(text) ? text.matchAll(NUMBER_RE) : []) {
    const suffix = (m[1] ?? "").toLowerCase();
    const scale = suffix === "k" ? 1e3 : suffix === "m" ? 1e6 : 1;
    const value = Number(m[0].replace(/[,a-z]/gi, "")) * scale;
    out.add(m[2] ? `${value}th` : String(value));
  }
  // A run of number words is one number: "twenty five" = 25, "one hundred" = 100.
  let current = 0;
  let total = 0;
  let inRun = false;
  const flush = (): void => {
    if (inRun) out.add(String(total + current));
    current = total = 0;
    inRun = false;
  };
  words.forEach((w, i) => {
    const ordinal = own(ORDINALS, w);
    if (ordinal !== undefined) out.add(`${ordinal}th`);
    const unit = w === "one" && own(SCALES, words[i + 1] ?? "") ? 1 : own(UNITS, w);
    const scale = own(SCALES, w);
    if (unit !== undefined) {
      current += unit;
      inRun = true;
    } else if (scale !== undefined && inRun) {
      current *= scale;
      if (scale >= 1e3) {
        total += current;
        current = 0;
      }
    } else if (w !== "and" || !inRun) {
      flush();
    }
  });
  flush();
  return out;
}

const isUpper = (ch: string): boolean => ch !== ch.toLowerCase();

// One name word: a short acronym or a word with inner capitals ("iPhone", "PyTorch") anywhere,
// or a capitalised word that does not open a sentence.
function looksLikeName(raw: string, word: string, atStart: boolean, capsMeaningless: boolean): boolean {
  if (COMMON_WORDS.has(word) || /^\d/.test(word)) return false;
  const rest = raw.slice(1);
  const hasLower = raw !== raw.toUpperCase();
  if (hasLower && rest !== rest.toLowerCase()) return true;
  if (capsMeaningless) return false;
  if (!hasLower && raw.length >= 2 && raw.length <= 5 && /^[\p{Lu}\d]+$/u.test(raw)) return true;
  return isUpper(raw[0] ?? "") && !atStart;
}

// "Why don't cats purr?" is negated; "is X safe or not?" is not, so idioms are only stripped
// (on the rarer texts that hold a negator at all) before looking again.
function isNegated(raw: readonly string[], words: readonly string[], text: string): boolean {
  const hasNegator = (ws: Iterable<string>): boolean => {
    for (const w of ws) if (NEGATION_WORDS.has(w) || /n['’]t$/.test(w)) return true;
    return false;
  };
  if (!hasNegator(words) && !raw.some((w) => /n['’]t$/i.test(w))) return false;
  const stripped = text.toLowerCase().replace(NEGATION_IDIOMS, " ");
  return hasNegator(stripped.match(WORD_RE) ?? []);
}

function extract(text: string): Features {
  // Accents are dropped so "Pokémon" and "Pokemon" compare equal.
  let normalised = /[^\x00-\x7f]/.test(text) ? text.normalize("NFKD").replace(/\p{M}/gu, "") : text;
  if (normalised.includes(".")) normalised = normalised.replace(DOTTED_ACRONYM, (m) => m.replace(/\./g, ""));
  const raw: string[] = [];
  const atStart: boolean[] = [];
  let last = 0;
  for (const m of normalised.matchAll(WORD_RE)) {
    const gap = normalised.slice(last, m.index);
    atStart.push(raw.length === 0 || (gap !== " " && SENTENCE_END.test(gap.trimEnd())));
    raw.push(m[0]);
    last = m.index + m[0].length;
  }
  const words = raw.map((w) => {
    let lower = w.toLowerCase();
    if (/['’]/.test(lower)) lower = lower.replace(/['’]s$/, "").replace(/['’]/g, "");
    return own(ALIASES, lower) ?? lower;
  });

  // In Title Case or shouted text capitals carry no signal, so only inner capitals count.
  let caps = 0;
  for (const w of raw) if (isUpper(w[0] ?? "")) caps++;
  const capsMeaningless = raw.length >= 4 && caps / raw.length > 0.6;

  const isName = raw.map((w, i) => looksLikeName(w, words[i] ?? "", atStart[i] ?? true, capsMeaningless));
  const names: string[][] = [];
  isName.forEach((flag, i) => {
    if (!flag) return;
    const word = words[i] ?? "";
    const run = isName[i - 1] ? names[names.length - 1] : undefined;
    if (run) run.push(word);
    else names.push([word]);
  });

  return {
    numbers: extractNumbers(normalised, words),
    words,
    tokens: new Set(words),
    names,
    isName,
    negated: isNegated(raw, words, normalised),
  };
}

// Inflections of one name share a long prefix ("India"/"Indians", "IIT"/"IITs",
// "Democrats"/"Democratic") while different names rarely do ("Austria"/"Australia").
function sameName(a: string, b: string): boolean {
  if (a === b) return true;
  if (a.length < 3 || b.length < 3) return a + "s" === b || b + "s" === a;
  if (a[0] !== b[0]) return false;
  let shared = 0;
  while (shared < a.length && a[shared] === b[shared]) shared++;
  return shared >= Math.max(3, a.length - 3, b.length - 3);
}

// Tokens grouped by their first three letters, which sameName requires them to share, so a
// long prompt full of names costs a hash lookup per name rather than a scan of every token.
// Built lazily: most pairs are settled by exact matches or by the number check.
function tokensStartingLike(f: Features, name: string): readonly string[] {
  if (!f.byPrefix) {
    f.byPrefix = new Map();
    for (const t of f.tokens) {
      const key = t.slice(0, 3);
      const bucket = f.byPrefix.get(key);
      if (bucket) bucket.push(t);
      else f.byPrefix.set(key, [t]);
    }
  }
  return f.byPrefix.get(name.slice(0, 3)) ?? [];
}

function mentions(f: Features, name: string): boolean {
  if (f.tokens.has(name)) return true;
  // Names under three letters only match their plural ("AI"/"AIs"), which the index misses.
  if (f.tokens.has(`${name}s`) || (name.length === 3 && f.tokens.has(name.slice(0, 2)) && name.endsWith("s"))) {
    return true;
  }
  for (const t of tokensStartingLike(f, name)) if (sameName(name, t)) return true;
  return false;
}

// A name is matched when all its words appear in the other question. A leading word may be
// dropped ("Donald Trump" vs "Trump") only if the other question uses the rest bare, so
// "North Korea" vs "South Korea" or "Thar Desert" vs "Syrian Desert" still fail.
function nameMatched(run: readonly string[], other: Features): boolean {
  const missing = run.filter((w) => !mentions(other, w));
  if (missing.length === 0) return true;
  if (missing.length > 1 || missing[0] !== run[0] || run.length < 2) return false;
  const head = run[1] ?? "";
  const at = other.words.findIndex((w) => sameName(head, w));
  return at >= 0 && !other.isName[at - 1];
}

// Both sides must state the same numbers, except that "1"/"1st" on one side may be spelled
// "a"/"one"/"first" on the other.
function sameNumbers(a: Features, b: Features): boolean {
  const excused = (n: string, other: Features): boolean =>
    (n === "1" && other.words.some((w) => ONE_WORDS.has(w))) ||
    (n === "1th" && other.tokens.has("first"));
  for (const n of a.numbers) if (!b.numbers.has(n) && !excused(n, b)) return false;
  for (const n of b.numbers) if (!a.numbers.has(n) && !excused(n, a)) return false;
  return true;
}

/**
 * Returns null when `a` and `b` could be the same question, or the reason they cannot be:
 * their numbers differ, one names something the other does not mention, or only one is negated.
 */
export function nearMissReason(a: string, b: string): NearMissReason | null {
  if (a === b) return null;
  const fa = extract(a);
  const fb = extract(b);
  if (!sameNumbers(fa, fb)) return "numbers";
  for (const run of fa.names) if (!nameMatched(run, fb)) return "entities";
  for (const run of fb.names) if (!nameMatched(run, fa)) return "entities";
  if (fa.negated !== fb.negated) return "negation";
  return null;
}

/** All three checks at once, for the verifier's features (nearMissReason stops at the first). */
export function nearMissFlags(a: string, b: string): { numbers: boolean; entities: boolean; negation: boolean } {
  if (a === b) return { numbers: false, entities: false, negation: false };
  const fa = extract(a);
  const fb = extract(b);
  return {
    numbers: !sameNumbers(fa, fb),
    entities: fa.names.some((run) => !nameMatched(run, fb)) || fb.names.some((run) => !nameMatched(run, fa)),
    negation: fa.negated !== fb.negated,
  };
}
