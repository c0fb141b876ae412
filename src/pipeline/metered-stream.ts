import type { StartedStream } from "../providers/call-provider";
import type { ChatChunk, FinishReason, Usage } from "../providers/provider-types";

export interface StreamSummary {
  text: string;
  usage?: Usage;
  finish: FinishReason | null;
  firstChunkAt?: number;
  endedAt: number;
  error?: unknown;
}

/**
 * Re-yields a started stream one chunk at a time, with usage taken out (the route decides whether the
 * client asked for it), and reports what was actually delivered when the stream ends, however it ends:
 * completion, upstream cut, or the client going away.
 */
export async function* meterStream(started: StartedStream, onEnd: (summary: StreamSummary) => void): AsyncGenerator<ChatChunk, void, void> {
  const summary: StreamSummary = { text: "", finish: null, endedAt: 0 };
  const take = (chunk: ChatChunk): ChatChunk | undefined => {
    if (chunk.usage) summary.usage = chunk.usage;
    const { usage: _usage, ...rest } = chunk;
    for (const choice of rest.choices) {
      summary.text += choice.delta.content ?? "";
      for (const call of choice.delta.tool_calls ?? []) summary.text += call.function?.arguments ?? "";
      if (choice.finish_reason) summary.finish = choice.finish_reason;
    }
    return rest.choices.length ? rest : undefined;
  };
  try {
    summary.firstChunkAt = Date.now();
    for (const chunk of started.first) {
      const out = take(chunk);
      if (out) yield out;
    }
    for await (const batch of started.rest) {
      for (const chunk of batch) {
        const out = take(chunk);
        if (out) yield out;
      }
    }
  } catch (error) {
    summary.error = error;
    throw error;
  } finally {
    summary.endedAt = Date.now();
    onEnd(summary);
  }
}
