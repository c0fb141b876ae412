import { createMiddleware } from "hono/factory";
import { GatewayError } from "../errors";
import type { AppEnv } from "../hono-env";
import { sha256Hex } from "./key-hash";
import { lookupKeyHash } from "./key-store";

const KEY_SHAPE = /^tg_[A-Za-z0-9]{20,128}$/;

/** The key from `Authorization: Bearer` (OpenAI SDKs) or `x-api-key` (Anthropic SDKs). */
export function presentedKey(authorization: string | undefined, apiKey: string | undefined): string | undefined {
  const bearer = authorization?.match(/^Bearer\s+(\S+)\s*$/i)?.[1];
  return bearer ?? apiKey?.trim();
}

export const tenantAuth = createMiddleware<AppEnv>(async (c, next) => {
  const key = presentedKey(c.req.header("authorization"), c.req.header("x-api-key"));
  if (!key) throw new GatewayError(401, "invalid_api_key", "Missing API key: send Authorization: Bearer tg_... or x-api-key");
  // Malformed keys are rejected before any lookup, so garbage costs neither D1 nor KV reads.
  const tenant = KEY_SHAPE.test(key) ? await lookupKeyHash(c.env, await sha256Hex(key)) : null;
  if (!tenant) throw new GatewayError(401, "invalid_api_key", "Invalid or revoked API key");
  c.set("tenant", tenant);
  c.var.ledger.event.tenant_id = tenant.tenantId;
  c.var.ledger.event.key_id = tenant.keyId;
  await next();
});
