import { countTokens } from "gpt-tokenizer/encoding/cl100k_base";
import { type ChatRequest, messageText } from "../validate/chat-request";

// cl100k_base rather than o200k_base: half the bundle size, and within a few percent on English text.
// Counts for non-OpenAI models are estimates either way; settlement uses the provider's reported usage.
export function countText(text: string): number {
  return text.length === 0 ? 0 : countTokens(text);
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
