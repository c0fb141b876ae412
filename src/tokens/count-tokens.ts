import { type ChatRequest, messageText } from "../validate/chat-request";
import { estimateTokens } from "./estimate-tokens";

// Estimates, not a tokenizer: admission only needs a reservation that settlement corrects with the
// provider's reported usage, and usage is estimated only when a provider sends none (OpenAI-shaped
// streams are asked for it with `stream_options.include_usage`; Anthropic sends it). The estimate is at
// or above cl100k_base's count for ~98% of texts (bench/calibrate-tokens.mjs); the tokenizer's table was
// 1.3 MB of the bundle.
export function countText(text: string): number {
  return text.length === 0 ? 0 : estimateTokens(text);
}

/** Prompt tokens the way OpenAI bills chat: per-message framing plus the text. */
export function countPromptTokens(req: Pick<ChatRequest, "messages" | "tools">): number {
  let total = 3;
  for (const message of req.messages) {
    total += 3 + countText(messageText(message));
    if (message.name) total += 1;
    for (const call of message.tool_calls ?? []) total += countText(call.function.name) + countText(call.function.arguments);
  }
  if (req.tools?.length) total += countText(JSON.stringify(req.tools));
  return total;
}
