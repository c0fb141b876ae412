import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { ErrorCode, McpError } from "@modelcontextprotocol/sdk/types.js";
import type { Residency } from "../config/model-catalog";
import { tenantObject } from "../config/tenant-objects";

const WAIT_STEP_MS = 100;

export type IdempotentClaim = { kind: "new"; complete: (result: CallToolResult) => Promise<void>; release: () => Promise<void> } | { kind: "replay"; result: CallToolResult };

/**
 * `Idempotency-Key` for a write tool: the same key and arguments run the tool once within 24 h, a
 * concurrent duplicate waits for the first, the same key with other arguments is refused. The tenant's
 * IdempotencyStore holds the records, scoped to the server and tool.
 */
export async function claimToolCall(env: Env, tenantId: string, residency: Residency | null, scope: string, key: string, argsHash: string, maxWaitMs: number): Promise<IdempotentClaim> {
  const stub = tenantObject(env.IDEMPOTENCY, tenantId, residency);
  const scopedKey = `mcp:${scope}\u0000${key}`;
  for (let waited = 0; ; waited += WAIT_STEP_MS) {
    const claim = await stub.begin(scopedKey, argsHash);
    if (claim.status === "conflict") throw new McpError(ErrorCode.InvalidRequest, "This Idempotency-Key was already used with different tool arguments", { code: "idempotency_conflict" });
    if (claim.status === "done") return { kind: "replay", result: JSON.parse(claim.response.body) as CallToolResult };
    if (claim.status === "new") {
      return {
        kind: "new",
        complete: (result) => stub.complete(scopedKey, { status: 200, headers: {}, body: JSON.stringify(result) }),
        release: () => stub.release(scopedKey),
      };
    }
    if (waited >= maxWaitMs) throw new McpError(ErrorCode.InvalidRequest, "A tool call with this Idempotency-Key is still in progress", { code: "idempotency_conflict" });
    await new Promise((resolve) => setTimeout(resolve, WAIT_STEP_MS));
  }
}
