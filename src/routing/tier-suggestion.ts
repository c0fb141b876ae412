import type { ChatRequest } from "../validate/chat-request";
import { messageText } from "../validate/chat-request";
import { complexityScore, tierForScore } from "./complexity-score";
import type { TierSuggestion } from "./route-plan";

/** The request's complexity score in [0, 1]: pure, well under a millisecond, no I/O. */
export function complexityOf(req: ChatRequest): number {
  return complexityScore({
    messages: req.messages.map((m) => ({ role: m.role, content: messageText(m) })),
    hasTools: (req.tools?.length ?? 0) > 0,
    hasJsonSchema: req.response_format?.type === "json_schema",
  }).score;
}

/** The complexity signal for `auto`. */
export function complexityTier(req: ChatRequest): TierSuggestion {
  const score = complexityOf(req);
  return { tier: tierForScore(score), reason: `complexity:${score.toFixed(2)}` };
}
