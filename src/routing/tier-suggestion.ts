import type { ChatRequest } from "../validate/chat-request";
import { messageText } from "../validate/chat-request";
import { complexityScore, tierForScore } from "./complexity-score";
import type { TierSuggestion } from "./route-plan";

/** The complexity signal for `auto`: pure, well under a millisecond, no I/O. */
export function complexityTier(req: ChatRequest): TierSuggestion {
  const { score } = complexityScore({
    messages: req.messages.map((m) => ({ role: m.role, content: messageText(m) })),
    hasTools: (req.tools?.length ?? 0) > 0,
    hasJsonSchema: req.response_format?.type === "json_schema",
  });
  return { tier: tierForScore(score), reason: `complexity:${score.toFixed(2)}` };
}
