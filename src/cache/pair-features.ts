// What the semantic verifier looks at in a (query, cached question) pair besides their cosine.
// Cosine cannot tell "Celsius to Fahrenheit" from "Fahrenheit to Celsius", or "before meals"
// from "after meals": these features can. No imports on purpose, like near-miss-guard.ts: the
// Worker bundles it and Node runs it directly in bench/train-verifier.mjs, so training and
// serving compute exactly the same numbers. The near-miss guard's three flags come in as input.

export interface GuardFlags {
  numbers: boolean;
  entities: boolean;
  negation: boolean;
}

/** Feature names in the order pairFeatures returns them; the weights file is checked against it. */
export const FEATURE_NAMES = [
  "cosine",
  "cosine_above_090",
  "word_jaccard",
  "content_jaccard",
  "content_cover_min",
  "unshared_content_log",
  "unshared_long_words",
  "char3_jaccard",
  "length_ratio",
  "length_log_diff",
  "same_text",
  "numbers_differ",
  "entities_differ",
  "negation_differs",
  "order_inversions",
  "direction_swap",
  "antonym_swap",
  "question_word_differs",
  "cosine_x_content_jaccard",
  "idf_jaccard",
  "idf_unshared_max_side",
  "idf_unshared_top",
] as const;

/**
 * Inverse document frequencies of the commonest content words, from the training questions; any
 * other word counts as rare (`unknown`), which is what makes it decide a match.
 */
export interface IdfTable {
  words: Readonly<Record<string, number>>;
  unknown: number;
}

const STOP = new Set(
  (
    "a an the this that these those there here i me my mine we our you your he she it they them their his her its " +
    "is are was were be been being am do does did done have has had can could will would shall should may might must " +
    "of in on at for by with about as so if and but also just really very any some all each every " +
    "what which who whom whose why how when where get got one ones someone something thing things way ways"
  ).split(" "),
);

// Words whose swap turns a question into a different one. Each pair is listed once.
const ANTONYMS: ReadonlyArray<readonly [string, string]> = [
  ["before", "after"], ["larger", "smaller"], ["bigger", "smaller"], ["largest", "smallest"], ["biggest", "smallest"],
  ["more", "less"], ["most", "least"], ["increase", "decrease"], ["buy", "sell"], ["buying", "selling"],
  ["best", "worst"], ["better", "worse"], ["advantage", "disadvantage"], ["pro", "con"], ["up", "down"],
  ["upload", "download"], ["import", "export"], ["encrypt", "decrypt"], ["encode", "decode"], ["enable", "disable"],
  ["add", "remove"], ["male", "female"], ["men", "women"], ["man", "woman"], ["boy", "girl"], ["rich", "poor"],
  ["first", "last"], ["start", "end"], ["win", "lose"], ["gain", "lose"], ["open", "close"], ["high", "low"],
  ["higher", "lower"], ["highest", "lowest"], ["hot", "cold"], ["fast", "slow"], ["faster", "slower"],
  ["cheap", "expensive"], ["old", "new"], ["older", "newer"], ["young", "old"],
  ["long", "short"], ["longer", "shorter"], ["heavy", "light"], ["easy", "hard"], ["easiest", "hardest"],
  ["positive", "negative"], ["legal", "illegal"], ["true", "false"], ["input", "output"], ["inside", "outside"],
  ["morning", "evening"], ["day", "night"], ["summer", "winter"], ["north", "south"], ["east", "west"],
  ["left", "right"], ["top", "bottom"], ["above", "below"], ["over", "under"], ["push", "pull"],
  ["send", "receive"], ["borrow", "lend"], ["lend", "borrow"], ["hire", "fire"], ["join", "leave"],
  ["login", "logout"], ["subscribe", "unsubscribe"], ["install", "uninstall"], ["lock", "unlock"],
  ["mount", "unmount"], ["zip", "unzip"], ["compress", "decompress"], ["minimum", "maximum"], ["min", "max"],
  ["introvert", "extrovert"], ["debit", "credit"], ["asset", "liability"], ["profit", "loss"], ["import", "export"],
  ["arrival", "departure"], ["arrive", "depart"], ["inbound", "outbound"], ["incoming", "outgoing"], ["client", "server"],
  ["upgrade", "downgrade"], ["block", "unblock"], ["ascending", "descending"], ["portrait", "landscape"],
  ["boiling", "freezing"], ["charge", "discharge"], ["parent", "child"], ["teacher", "student"], ["employer", "employee"], ["landlord", "tenant"], ["buyer", "seller"],
];
const ANTONYM_OF = new Map<string, string[]>();
for (const [x, y] of ANTONYMS) {
  ANTONYM_OF.set(x, [...(ANTONYM_OF.get(x) ?? []), y]);
  ANTONYM_OF.set(y, [...(ANTONYM_OF.get(y) ?? []), x]);
}

// Connectors whose two sides are not interchangeable: "A to B", "A into B", "A vs B", "A or B",
// "A than B", "A from B", "A over B", "A before B". "to", "into", "2" and "->" are one class, so
// "English to Spanish" vs "Spanish into English" is still a swap.
// Tables keyed by words are read with own(): a plain object answers "constructor" or "toString"
// from its prototype, and those words do occur in questions.
const own = <T>(table: Readonly<Record<string, T>>, key: string): T | undefined => (Object.hasOwn(table, key) ? table[key] : undefined);

const CONNECTOR_CLASS: Record<string, string> = {
  to: "to", into: "to", "2": "to", "->": "to", towards: "to",
  from: "from", vs: "vs", versus: "vs", or: "or", than: "than", over: "over",
  before: "before", after: "before",
};
const SKIPPABLE = new Set(["the", "a", "an", "my", "your", "our", "their", "his", "her", "its", "this", "that"]);
const QUESTION_WORDS = new Set(["what", "why", "how", "when", "where", "who", "which", "whom", "whose"]);

// Letters and digits of any script: with ASCII only, "What does 심하잖아 mean?" and "What does
// 任せてほしい mean?" were the same words (and USE-lite gives them cosine 1).
const WORD_RE = /[\p{L}\p{N}]+(?:'\p{L}+)?|->/gu;

function stem(word: string): string {
  const w = word.replace(/'s$|'$/, "");
  if (w.length > 4 && w.endsWith("ies")) return `${w.slice(0, -3)}y`;
  if (w.length > 4 && /(?:ses|xes|ches|shes)$/.test(w)) return w.slice(0, -2);
  if (w.length > 3 && w.endsWith("s") && !w.endsWith("ss") && !w.endsWith("us") && !w.endsWith("is")) return w.slice(0, -1);
  return w;
}

interface Side {
  text: string;
  words: string[];
  stems: string[];
  wordSet: Set<string>;
  content: Set<string>;
  trigrams: Set<string>;
  questionWord: string | undefined;
}

function side(text: string): Side {
  const lower = text.toLowerCase().replace(/[’`]/g, "'");
  const words = lower.match(WORD_RE) ?? [];
  const stems = words.map(stem);
  const content = new Set(stems.filter((w) => !STOP.has(w) && w !== "->"));
  const squeezed = words.join(" ");
  const trigrams = new Set<string>();
  for (let i = 0; i + 3 <= squeezed.length; i++) trigrams.add(squeezed.slice(i, i + 3));
  return { text: squeezed, words, stems, wordSet: new Set(stems), content, trigrams, questionWord: words.find((w) => QUESTION_WORDS.has(w)) };
}

function jaccard(a: ReadonlySet<string>, b: ReadonlySet<string>): number {
  if (a.size === 0 && b.size === 0) return 1;
  let shared = 0;
  for (const x of a) if (b.has(x)) shared++;
  return shared / (a.size + b.size - shared);
}

// Share of discordant pairs among content words that occur exactly once on each side: 0 when the
// shared words come in the same order, 1 when reversed.
function orderInversions(a: Side, b: Side): number {
  const once = (s: Side) => {
    const pos = new Map<string, number>();
    const seen = new Set<string>();
    s.stems.forEach((w, i) => {
      if (!s.content.has(w)) return;
      if (seen.has(w)) pos.delete(w);
      else pos.set(w, i);
      seen.add(w);
    });
    return pos;
  };
  const pa = once(a);
  const pb = once(b);
  const shared = [...pa.keys()].filter((w) => pb.has(w)).sort((x, y) => (pa.get(x) ?? 0) - (pa.get(y) ?? 0));
  if (shared.length < 2) return 0;
  let discordant = 0;
  let total = 0;
  for (let i = 0; i < shared.length; i++) {
    for (let j = i + 1; j < shared.length; j++) {
      total++;
      if ((pb.get(shared[i] ?? "") ?? 0) > (pb.get(shared[j] ?? "") ?? 0)) discordant++;
    }
  }
  return discordant / total;
}

// The nearest content word on each side of every connector: "convert celsius to fahrenheit" gives
// to:(celsius, fahrenheit).
function connected(s: Side): Array<{ cls: string; left: string; right: string }> {
  const out: Array<{ cls: string; left: string; right: string }> = [];
  s.words.forEach((w, i) => {
    const cls = own(CONNECTOR_CLASS, w);
    if (!cls) return;
    let l = i - 1;
    while (l >= 0 && SKIPPABLE.has(s.words[l] ?? "")) l--;
    let r = i + 1;
    while (r < s.words.length && SKIPPABLE.has(s.words[r] ?? "")) r++;
    // Words as written, not stems: the stemmer folds "https" into "http".
    const left = s.words[l];
    const right = s.words[r];
    if (left && right && left !== right) out.push({ cls, left, right });
  });
  return out;
}

// One side says "A <c> B" and the other "B <c> A" (same connector class), or "A before B" vs "A after B".
function directionSwap(a: Side, b: Side): boolean {
  const cb = connected(b);
  for (const x of connected(a)) {
    for (const y of cb) {
      if (x.cls !== y.cls) continue;
      if (x.left === y.right && x.right === y.left) return true;
    }
  }
  // "from A to B" vs "to B from A" reads the same; "from A to B" vs "from B to A" does not, and
  // is caught above. "A to B" vs "from B to A" is caught here: a "from" object that is the other's "to" subject.
  const fromTo = (s: Side) => {
    const from = connected(s).find((c) => c.cls === "from")?.right;
    const to = connected(s).find((c) => c.cls === "to")?.right;
    return { from, to };
  };
  const fa = fromTo(a);
  const fb = fromTo(b);
  if (fa.to && fb.to && fa.to !== fb.to && fa.from && fb.from && fa.from === fb.to && fb.from === fa.to) return true;
  // "Is Python faster than Java?" vs "Is Java faster than Python?": the same words around a
  // connector, in another order.
  const sameWords = a.content.size === b.content.size && [...a.content].every((w) => b.content.has(w));
  const hasConnector = (s: Side) => s.words.some((w) => own(CONNECTOR_CLASS, w) !== undefined);
  return sameWords && hasConnector(a) && hasConnector(b) && orderInversions(a, b) > 0;
}

function antonymSwap(a: Side, b: Side): boolean {
  const check = (x: Side, y: Side) => {
    for (const w of x.wordSet) {
      if (y.wordSet.has(w)) continue;
      for (const anti of ANTONYM_OF.get(w) ?? []) if (y.wordSet.has(anti) && !x.wordSet.has(anti)) return true;
    }
    return false;
  };
  return check(a, b) || check(b, a);
}

/** Content words of a text as pairFeatures sees them, for building the IDF table. */
export function contentWords(text: string): Set<string> {
  return side(text).content;
}

/** The features of one pair, in FEATURE_NAMES order. */
export function pairFeatures(a: string, b: string, cosine: number, guard: GuardFlags, idf: IdfTable): number[] {
  const sa = side(a);
  const sb = side(b);
  let sharedContent = 0;
  for (const w of sa.content) if (sb.content.has(w)) sharedContent++;
  const unshared = sa.content.size + sb.content.size - 2 * sharedContent;
  let unsharedLong = 0;
  for (const w of sa.content) if (w.length >= 7 && !sb.content.has(w)) unsharedLong++;
  for (const w of sb.content) if (w.length >= 7 && !sa.content.has(w)) unsharedLong++;
  const la = Math.max(1, sa.words.length);
  const lb = Math.max(1, sb.words.length);
  const contentJaccard = jaccard(sa.content, sb.content);
  const minContent = Math.min(sa.content.size, sb.content.size);
  const weight = (w: string) => own(idf.words, w) ?? idf.unknown;
  let idfShared = 0;
  let idfOnlyA = 0;
  let idfOnlyB = 0;
  let idfTop = 0;
  for (const w of sa.content) {
    if (sb.content.has(w)) idfShared += weight(w);
    else {
      idfOnlyA += weight(w);
      idfTop = Math.max(idfTop, weight(w));
    }
  }
  for (const w of sb.content) {
    if (sa.content.has(w)) continue;
    idfOnlyB += weight(w);
    idfTop = Math.max(idfTop, weight(w));
  }
  const idfUnion = idfShared + idfOnlyA + idfOnlyB;
  return [
    cosine,
    Math.max(0, cosine - 0.9) * 10,
    jaccard(sa.wordSet, sb.wordSet),
    contentJaccard,
    minContent ? sharedContent / minContent : 1,
    Math.log1p(unshared),
    Math.min(unsharedLong, 4),
    jaccard(sa.trigrams, sb.trigrams),
    Math.min(la, lb) / Math.max(la, lb),
    Math.abs(Math.log(la / lb)),
    sa.text === sb.text ? 1 : 0,
    guard.numbers ? 1 : 0,
    guard.entities ? 1 : 0,
    guard.negation ? 1 : 0,
    orderInversions(sa, sb),
    directionSwap(sa, sb) ? 1 : 0,
    antonymSwap(sa, sb) ? 1 : 0,
    sa.questionWord !== sb.questionWord ? 1 : 0,
    cosine * contentJaccard,
    idfUnion > 0 ? idfShared / idfUnion : 1,
    Math.max(idfOnlyA, idfOnlyB) / idf.unknown,
    idfTop / idf.unknown,
  ];
}
