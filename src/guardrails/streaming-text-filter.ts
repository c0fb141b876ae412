import type { ChatChunk } from "../providers/provider-types";
import { findPii } from "./pii-detectors";
import { couldBePlaceholder, type PiiPlaceholders } from "./pii-placeholders";

/** A rewrite of streamed text that may hold back a tail until it knows what the tail is. */
export interface TextFilter {
  push(text: string): string;
  /** Everything still held, rewritten: the stream is over. */
  flush(): string;
}

/** Nothing legitimate needs more than this held back (the longest IBAN written in groups is 42). */
const MAX_HOLD = 256;
/** A group of a card, phone, IBAN or NINO written with spaces: `4111`, `(555)`, `DE89`, `WEST`, `C`. */
const GROUP = /^(?:(?=[^\s]*\d)[A-Za-z0-9()+.-]{1,8}|[A-Z]{1,4})$/;

/**
 * Where the part of `text` that could still become, or still extend, a match begins: the last token
 * (an e-mail or key may be half-written), plus the groups before it that a spaced number or IBAN is
 * made of, plus a `key=` or `token:` naming a secret. Everything before that point is final.
 */
export function holdFrom(text: string): number {
  const floor = Math.max(0, text.length - MAX_HOLD);
  let at = text.length;
  while (at > floor && !/\s/.test(text[at - 1] ?? "")) at--;
  let takeNext = false;
  while (at > floor && /[ \t]/.test(text[at - 1] ?? "")) {
    const end = at - 1;
    let start = end;
    while (start > floor && !/\s/.test(text[start - 1] ?? "")) start--;
    const token = text.slice(start, end);
    if (!token) break;
    const separator = token === ":" || token === "=";
    if (!takeNext && !separator && !GROUP.test(token) && !/[:=]$/.test(token)) break;
    takeNext = separator;
    at = start;
  }
  // A match that reaches into the held tail may still grow: hold it whole.
  for (const match of findPii(text)) if (match.end > at && match.start < at) at = match.start;
  return Math.max(at, floor);
}

/** Rewrites text as it streams, holding back from `cutAt` on: a tail the rewrite could not judge yet. */
class HeldTailFilter implements TextFilter {
  private held = "";
  constructor(
    private readonly cutAt: (buffer: string) => number,
    private readonly rewrite: (text: string) => string,
  ) {}

  push(text: string): string {
    const buffer = this.held + text;
    const cut = this.cutAt(buffer);
    this.held = buffer.slice(cut);
    return this.rewrite(buffer.slice(0, cut));
  }

  flush(): string {
    const rest = this.rewrite(this.held);
    this.held = "";
    return rest;
  }
}

/** Redacts personal data as it streams: a value split across chunks is caught, and nothing is held for long. */
export class StreamingRedactor extends HeldTailFilter {
  constructor(placeholders: PiiPlaceholders) {
    super(holdFrom, (text) => placeholders.redact(text));
  }
}

/** Where a placeholder (`[EMAIL_1]`) may be starting at the end of `buffer`; all of it when none can be. */
function placeholderTail(buffer: string): number {
  const open = buffer.lastIndexOf("[");
  return open >= 0 && couldBePlaceholder(buffer.slice(open)) ? open : buffer.length;
}

/** Puts placeholders back as they stream, holding only a tail that could be the start of one. */
export class StreamingRestorer extends HeldTailFilter {
  constructor(placeholders: PiiPlaceholders) {
    super(placeholderTail, (text) => placeholders.restore(text));
  }
}

/**
 * Runs a chat stream's content through `filter`. A chunk whose text is all held back is dropped
 * unless it carries something else (a role, tool calls, a finish reason); what is held when the
 * stream finishes goes out with the finishing chunk, or in one chunk of its own.
 */
export async function* filterChunks(chunks: AsyncGenerator<ChatChunk, void, void>, filter: TextFilter, onEnd?: () => void): AsyncGenerator<ChatChunk, void, void> {
  let last: ChatChunk | undefined;
  let flushed = false;
  try {
    for await (const chunk of chunks) {
      last = chunk;
      const choices = chunk.choices.map((choice) => {
        let content = typeof choice.delta.content === "string" ? filter.push(choice.delta.content) : undefined;
        if (choice.finish_reason) {
          content = (content ?? "") + filter.flush();
          flushed = true;
        }
        if (content === undefined) return choice;
        return { ...choice, delta: { ...choice.delta, content } };
      });
      const carries = choices.some((c) => c.delta.content || c.delta.role || c.delta.tool_calls?.length || c.finish_reason);
      if (carries || !chunk.choices.length) yield { ...chunk, choices };
    }
    const rest = flushed ? "" : filter.flush();
    if (rest && last) yield { ...last, choices: [{ index: 0, delta: { content: rest }, finish_reason: null }] };
  } finally {
    onEnd?.();
  }
}
