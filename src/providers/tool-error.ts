import { type ChatMessage, messageText } from "../validate/chat-request";

/**
 * A failed tool call arrives from /v1/messages as a tool message with `is_error: true`. Anthropic keeps
 * the flag on its tool_result block; Chat Completions and Workers AI have no such field (OpenAI rejects
 * unknown message fields), so there the failure becomes words at the start of the content.
 */
export function isToolError(message: ChatMessage): boolean {
  return message.role === "tool" && message.is_error === true;
}

const PREFIX = "Error: ";

/** The message as a flagless upstream should see it. */
export function withoutErrorFlag(message: ChatMessage): ChatMessage {
  if (!isToolError(message)) return message;
  const { is_error: _flag, ...rest } = message;
  return { ...rest, content: `${PREFIX}${messageText(message)}` };
}
