// Heuristic prompt-complexity score for `model: "auto"`. It runs on every routed request before any
// I/O, so it stays dependency-free and regex-only: no tokenizer, no embedding, well under 1 ms.

export type Tier = "fast" | "balanced" | "powerful";

export interface ComplexityInput {
  messages: { role: string; content: string }[];
  hasTools: boolean;
  hasJsonSchema: boolean;
}

export interface ComplexityResult {
  /** 0..1; higher means the request more likely needs a stronger tier. */
  score: number;
  /** Each signal in 0..1, before weighting, so callers can log why a tier was picked. */
  signals: Record<string, number>;
}

export interface TierThresholds {
  balanced: number;
  powerful: number;
}

// Picked so that chit-chat and short lookups stay on `fast`, a single strong signal (a code block,
// an equation, a long document) reaches `balanced`, and only several strong signals together reach
// `powerful`. Tune per tenant policy rather than editing these.
export const DEFAULT_TIER_THRESHOLDS: TierThresholds = { balanced: 0.3, powerful: 0.65 };

// How far one signal at full strength can push the score on its own (noisy-OR weights). Content
// signals dominate; tools, schema and depth only nudge, because they say more about format than
// difficulty.
const WEIGHTS = {
  length: 0.45,
  code: 0.5,
  maths: 0.5,
  multiStep: 0.4,
  reasoning: 0.45,
  tools: 0.15,
  jsonSchema: 0.1,
  depth: 0.2,
} as const;

type SignalName = keyof typeof WEIGHTS;

const CHARS_PER_TOKEN = 4;
// Length saturates on a log scale: going from 20 to 200 tokens matters more than 2k to 4k.
const LENGTH_FLOOR_TOKENS = 16;
const LENGTH_FULL_TOKENS = 3000;
const DEPTH_FULL_TURNS = 12;

const CODE_FENCE = /```/g;
const CODE_KEYWORD =
  /\b(?:function|def|class|return|import|const|let|var|async|await|public|static|void|struct|impl|fn|lambda|SELECT|INSERT|UPDATE|FROM|WHERE|#include|println|printf|console\.log|try|catch|except|elif|typedef|namespace|interface|enum)\b|=>|::|->|\+\+|&&|\|\||!=|==/g;
const CODE_PUNCT = /[{};]/g;
const DIGIT_RUN = /\d+(?:[.,]\d+)?/g;
const MATH_OPERATOR = /[+*/^=<>≤≥±×÷√∑∫∞π]|\\(?:frac|sum|int|sqrt|cdot|le|ge|infty)|(?<=[\d)\s])-(?=[\d(\s])/g;
const EQUATION = /[a-z0-9)]\s*(?:\^|=|\*\*)\s*[a-z0-9(]/gi;
const MATH_WORD =
  /\b(?:solve|prove|proof|integral|integrate|derivative|differentiate|equation|theorem|lemma|probability|matrix|matrices|eigen\w*|polynomial|logarithm|limit|converge\w*|calculate|compute|sum of|how many|how much|percent|ratio|algebra\w*|geometry|inequality)\b/gi;
const NUMBERED_LINE = /^\s*(?:\d+[.)]|[a-z][.)]|[-*•])\s+\S/gim;
const SEQUENCE_WORD =
  /\b(?:then|after that|afterwards|next|finally|first(?:ly)?|second(?:ly)?|step[- ]by[- ]step|steps?)\b/gi;
const QUESTION_MARK = /\?/g;
const REASONING_WORD =
  /\b(?:why|explain|compare|contrast|analy[sz]e|analysis|evaluate|justify|reason(?:ing)?|trade-?offs?|pros and cons|critique|derive|implications?|assess|design|architect\w*|optimi[sz]e|debug|refactor)\b/gi;

function countMatches(text: string, pattern: RegExp): number {
  pattern.lastIndex = 0;
  let count = 0;
  while (pattern.exec(text) !== null) count++;
  return count;
}

// Maps a raw count onto 0..1 with diminishing returns; `half` is the count that scores 0.5.
function saturate(count: number, half: number): number {
  return count <= 0 ? 0 : count / (count + half);
}

function clamp01(value: number): number {
  return value < 0 ? 0 : value > 1 ? 1 : value;
}

function lengthSignal(totalChars: number): number {
  const tokens = totalChars / CHARS_PER_TOKEN;
  if (tokens <= LENGTH_FLOOR_TOKENS) return 0;
  return clamp01(Math.log(tokens / LENGTH_FLOOR_TOKENS) / Math.log(LENGTH_FULL_TOKENS / LENGTH_FLOOR_TOKENS));
}

function codeSignal(text: string, chars: number): number {
  const fences = Math.floor(countMatches(text, CODE_FENCE) / 2);
  const keywords = countMatches(text, CODE_KEYWORD);
  // Braces and semicolons only count when dense, so prose with one "{" does not look like code.
  const punctDensity = countMatches(text, CODE_PUNCT) / Math.max(chars, 1);
  const fromFences = fences > 0 ? 0.6 + 0.1 * Math.min(fences - 1, 4) : 0;
  return clamp01(Math.max(fromFences, saturate(keywords, 6) * 0.8 + clamp01(punctDensity * 25) * 0.4));
}

function mathsSignal(text: string, chars: number): number {
  const digits = countMatches(text, DIGIT_RUN);
  const operators = countMatches(text, MATH_OPERATOR);
  const equations = countMatches(text, EQUATION);
  const words = countMatches(text, MATH_WORD);
  // Density keeps a long essay with a few years in it from looking like arithmetic.
  const symbolDensity = (digits + operators) / Math.max(chars / 40, 1);
  return clamp01(
    saturate(words, 2) * 0.45 + saturate(equations, 2) * 0.35 + clamp01(symbolDensity / 3) * 0.35,
  );
}

function multiStepSignal(text: string): number {
  const listItems = countMatches(text, NUMBERED_LINE);
  const sequenceWords = countMatches(text, SEQUENCE_WORD);
  // One question is normal; each extra question is another task to do.
  const extraQuestions = Math.max(countMatches(text, QUESTION_MARK) - 1, 0);
  return clamp01(saturate(listItems, 3) * 0.5 + saturate(sequenceWords, 3) * 0.4 + saturate(extraQuestions, 2) * 0.4);
}

function depthSignal(messages: ComplexityInput["messages"]): number {
  const turns = messages.filter((m) => m.role !== "system").length;
  return clamp01((turns - 1) / (DEPTH_FULL_TURNS - 1));
}

export function complexityScore(input: ComplexityInput): ComplexityResult {
  let totalChars = 0;
  for (const message of input.messages) totalChars += message.content.length;
  // Content signals read the latest user turn (what must be answered now) plus the system prompt
  // (which often carries the real task); length and depth cover the rest of the conversation.
  let focus = "";
  for (let i = input.messages.length - 1; i >= 0; i--) {
    const message = input.messages[i];
    if (message !== undefined && message.role === "user") {
      focus = message.content;
      break;
    }
  }
  const system = input.messages.find((m) => m.role === "system")?.content ?? "";
  const text = system.length > 0 ? `${system}\n${focus}` : focus;
  const chars = text.length;

  const signals: Record<SignalName, number> = {
    length: lengthSignal(totalChars),
    code: codeSignal(text, chars),
    maths: mathsSignal(text, chars),
    multiStep: multiStepSignal(text),
    reasoning: saturate(countMatches(text, REASONING_WORD), 1.5),
    tools: input.hasTools ? 1 : 0,
    jsonSchema: input.hasJsonSchema ? 1 : 0,
    depth: depthSignal(input.messages),
  };

  // Noisy-OR: each signal independently "explains" difficulty, so one strong signal is enough to
  // lift the score and adding any signal never lowers it (monotone), while staying in 0..1.
  let allEasy = 1;
  for (const name of Object.keys(WEIGHTS) as SignalName[]) {
    allEasy *= 1 - WEIGHTS[name] * signals[name];
  }
  return { score: clamp01(1 - allEasy), signals };
}

export function tierForScore(score: number, thresholds: TierThresholds = DEFAULT_TIER_THRESHOLDS): Tier {
  if (score >= thresholds.powerful) return "powerful";
  if (score >= thresholds.balanced) return "balanced";
  return "fast";
}
