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
const NEGATION_IDIOMS =
  /\b(?:not only|no matter|no doubt|not sure|or not|why not|if not)\b|^\s*no\s*[,.!]|\bno\.\s*(?=\d)/g;

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
  // Runs of adjacent name words ("donald trump", "great basin desert"), lower-cased.
  names: string[][];
  isName: boolean[];
  negated: boolean;
}

function extractNumbers(text: string, words: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (const m of text.matchAll(NUMBER_RE)) {
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
    const ordinal = ORDINALS[w];
    if (ordinal !== undefined) out.add(`${ordinal}th`);
    const unit = w === "one" && SCALES[words[i + 1] ?? ""] ? 1 : UNITS[w];
    const scale = SCALES[w];
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

function extract(text: string): Features {
  // Accents are dropped so "Pokémon" and "Pokemon" compare equal.
  const normalised = text
    .normalize("NFKD")
    .replace(/\p{M}/gu, "")
    .replace(DOTTED_ACRONYM, (m) => m.replace(/\./g, ""));
  const raw: string[] = [];
  const atStart: boolean[] = [];
  let last = 0;
  for (const m of normalised.matchAll(WORD_RE)) {
    atStart.push(raw.length === 0 || SENTENCE_END.test(normalised.slice(last, m.index).trimEnd()));
    raw.push(m[0]);
    last = m.index + m[0].length;
  }
  const words = raw.map((w) => {
    const lower = w.toLowerCase().replace(/['’]s$/, "").replace(/['’]/g, "");
    return ALIASES[lower] ?? lower;
  });

  // In Title Case or shouted text capitals carry no signal, so only inner capitals count.
  let caps = 0;
  for (const w of raw) if (/^\p{Lu}/u.test(w)) caps++;
  const capsMeaningless = raw.length >= 4 && caps / raw.length > 0.6;

  const isName = raw.map((w, i) => {
    const word = words[i] ?? "";
    if (COMMON_WORDS.has(word) || /^\d/.test(word)) return false;
    // "iPhone", "PyTorch", short acronyms: names wherever they stand.
    if (/^.\P{Lu}*\p{Lu}/u.test(w) && /\p{Ll}/u.test(w)) return true;
    if (/^[\p{Lu}\d]{2,5}$/u.test(w) && !capsMeaningless) return true;
    return /^\p{Lu}/u.test(w) && !atStart[i] && !capsMeaningless;
  });
  const names: string[][] = [];
  isName.forEach((flag, i) => {
    if (!flag) return;
    const word = words[i] ?? "";
    const run = isName[i - 1] ? names[names.length - 1] : undefined;
    if (run) run.push(word);
    else names.push([word]);
  });

  const lowered = normalised.toLowerCase().replace(NEGATION_IDIOMS, " ");
  let negated = /n['’]t\b/.test(lowered);
  for (const w of negated ? [] : (lowered.match(WORD_RE) ?? [])) {
    if (NEGATION_WORDS.has(w)) {
      negated = true;
      break;
    }
  }

  return {
    numbers: extractNumbers(normalised, words),
    words,
    tokens: new Set(words),
    names,
    isName,
    negated,
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

function mentions(f: Features, name: string): boolean {
  if (f.tokens.has(name)) return true;
  for (const t of f.tokens) if (sameName(name, t)) return true;
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
