import { countText } from "../tokens/count-tokens";

/** A chunk aims at this many tokens: small enough that top-k stays cheap, big enough to answer from. */
export const CHUNK_TARGET_TOKENS = 220;
/** No chunk is longer than this; a longer paragraph is cut at sentence ends, then at words. */
export const CHUNK_MAX_TOKENS = 400;
/** The last sentences of a cut paragraph start the next chunk too, so an answer that straddles the cut is found. */
const OVERLAP_TOKENS = 40;

export interface Chunk {
  index: number;
  text: string;
  /** The Markdown heading path the chunk sits under ("Caching > Exact cache"), or "" for plain text. */
  section: string;
}

interface Block {
  section: string;
  text: string;
}

/** Paragraphs with the heading path they sit under; fenced code stays one block. */
function blocks(text: string): Block[] {
  const out: Block[] = [];
  const headings: string[] = [];
  let paragraph: string[] = [];
  let fenced = false;
  const flush = () => {
    const body = paragraph.join("\n").trim();
    if (body) out.push({ section: headings.filter(Boolean).join(" > "), text: body });
    paragraph = [];
  };
  for (const line of text.replace(/\r\n?/g, "\n").split("\n")) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    const heading = fenced ? null : /^(#{1,6})\s+(.*)$/.exec(line);
    if (heading) {
      flush();
      const level = (heading[1] ?? "#").length;
      headings.length = level - 1;
      headings[level - 1] = (heading[2] ?? "").trim();
      continue;
    }
    if (!fenced && line.trim() === "") flush();
    else paragraph.push(line);
  }
  flush();
  return out;
}

const SENTENCE = /[^.!?\n]+(?:[.!?]+|\n|$)\s*/g;

/**
 * Greedy packing of units into pieces of at most `max` tokens. Counts add up per unit (a join can
 * differ by a token), which keeps a long paragraph linear instead of re-tokenizing it per word.
 */
function pack(units: string[], max: number): string[] {
  const pieces: string[] = [];
  let current = "";
  let tokens = 0;
  for (const unit of units) {
    const cost = countText(unit);
    if (current && tokens + cost > max) {
      pieces.push(current.trim());
      current = "";
      tokens = 0;
    }
    current += unit;
    tokens += cost;
  }
  if (current.trim()) pieces.push(current.trim());
  return pieces;
}

/** Pieces of at most `max` tokens: cut at sentence ends, and a sentence longer than that at words. */
function split(text: string, max: number): string[] {
  if (countText(text) <= max) return [text];
  const sentences = (text.match(SENTENCE) ?? [text]).flatMap((sentence) => (countText(sentence) > max ? pack(sentence.split(/(?<=\s)/), max).map((p) => `${p} `) : [sentence]));
  return pack(sentences, max);
}

function tail(text: string, tokens: number): string {
  const sentences = text.match(SENTENCE) ?? [];
  let out = "";
  for (let i = sentences.length - 1; i >= 0; i--) {
    const next = (sentences[i] ?? "") + out;
    if (countText(next) > tokens) break;
    out = next;
  }
  return out.trim();
}

/**
 * Splits a document into chunks of about CHUNK_TARGET_TOKENS, never crossing a heading, so each chunk
 * is about one thing; each starts with its heading path, which is often the best clue to what it answers.
 */
export function chunkText(text: string, options: { target?: number; max?: number } = {}): Chunk[] {
  const target = options.target ?? CHUNK_TARGET_TOKENS;
  const max = options.max ?? CHUNK_MAX_TOKENS;
  const chunks: Chunk[] = [];
  const emit = (section: string, body: string) => {
    const trimmed = body.trim();
    if (trimmed) chunks.push({ index: chunks.length, section, text: section ? `${section}\n\n${trimmed}` : trimmed });
  };
  let section = "";
  let current = "";
  for (const block of blocks(text)) {
    if (block.section !== section) {
      emit(section, current);
      section = block.section;
      current = "";
    }
    for (const piece of split(block.text, max)) {
      const joined = current ? `${current}\n\n${piece}` : piece;
      if (current && countText(joined) > target) {
        emit(section, current);
        // Overlap only inside a long paragraph that was cut, where a sentence may depend on the last.
        const carry = piece !== block.text ? tail(current, OVERLAP_TOKENS) : "";
        current = carry ? `${carry} ${piece}` : piece;
      } else current = joined;
    }
  }
  emit(section, current);
  return chunks;
}
