import { countText } from "../tokens/count-tokens";

export interface RetrievedChunk {
  /** The chunk's id in the vector store. */
  id: string;
  document_id: string;
  /** Position of the chunk in its document. */
  chunk: number;
  score: number;
  text: string;
  metadata: Record<string, string | number | boolean>;
}

export interface PackedContext {
  /** The system message's text, or "" when nothing fit. */
  text: string;
  /** The chunks that made it in, best first. */
  kept: RetrievedChunk[];
  dropped: RetrievedChunk[];
  tokens: number;
}

const PREAMBLE = "Answer from the sources below when they are relevant, and cite the ones you use by their [id]. If they do not contain the answer, say so.";

/** A chunk as the model sees it: `[doc#n]` then its text; the label is what the answer cites. */
export const sourceLabel = (chunk: Pick<RetrievedChunk, "document_id" | "chunk">) => `${chunk.document_id}#${chunk.chunk}`;
const block = (chunk: RetrievedChunk) => `[${sourceLabel(chunk)}]\n${chunk.text}`;

/**
 * Puts the retrieved chunks into one system message within `maxTokens`: best first, and while the
 * whole does not fit, the lowest-scoring chunk goes. The same chunks always give the same text, byte
 * for byte, which is what lets the exact cache recognise a repeated grounded request.
 */
export function packContext(chunks: readonly RetrievedChunk[], maxTokens: number): PackedContext {
  const ranked = [...chunks].sort((a, b) => b.score - a.score || a.id.localeCompare(b.id));
  const costs = ranked.map((chunk) => countText(block(chunk)) + 2);
  let total = countText(PREAMBLE) + costs.reduce((sum, cost) => sum + cost, 0);
  let keep = ranked.length;
  while (keep > 0 && total > maxTokens) {
    keep -= 1;
    total -= costs[keep] ?? 0;
  }
  const kept = ranked.slice(0, keep);
  const text = kept.length ? [PREAMBLE, ...kept.map(block)].join("\n\n") : "";
  return { text, kept, dropped: ranked.slice(keep), tokens: kept.length ? total : 0 };
}
