import { createMiddleware } from "hono/factory";
import { GatewayError } from "../errors";
import type { AppEnv } from "../hono-env";
import { sha256Hex } from "./key-hash";
import { lookupKeyHash } from "./key-store";

const KEY_SHAPE = /^tg_[A-Za-z0-9]{20,128}$/;

// A warm key is hashed once per isolate, not once per request (the digest was the largest single cost
// of an exact hit in `npm run bench:profile`). Only well-formed keys that resolved to a tenant are kept,
// so guesses cannot fill it; whether the key still works is decided by lookupKeyHash every time.
const KEY_HASHES_MAX = 1_000;
const keyHashes = new Map<string, string>();

async function hashOfKey(key: string): Promise<string> {
  return keyHashes.get(key) ?? sha256Hex(key);
}

function rememberKeyHash(key: string, hash: string): void {
  if (keyHashes.has(key)) return;
  if (keyHashes.size >= KEY_HASHES_MAX) keyHashes.delete(keyHashes.keys().next().value ?? "");
  keyHashes.set(key, hash);
}

/** The key from `Authorization: Bearer` (OpenAI SDKs) or `x-api-key` (Anthropic SDKs). */
export function presentedKey(authorization: string | undefined, apiKey: string | undefined): string | undefined {
  const bearer = authorization?.match(/^Bearer\s+(\S+)\s*$/i)?.[1];
  return bearer ?? apiKey?.trim();
}

export const tenantAuth = createMiddleware<AppEnv>(async (c, next) => {
  const key = presentedKey(c.req.header("authorization"), c.req.header("x-api-key"));
  if (!key) throw new GatewayError(401, "invalid_api_key", "Missing API key: send Authorization: Bearer tg_... or x-api-key");
  // Malformed keys are rejected before any lookup, so garbage costs neither D1 nor KV reads.
  const hash = KEY_SHAPE.test(key) ? await hashOfKey(key) : null;
  const tenant = hash ? await lookupKeyHash(c.env, hash) : null;
  if (!tenant || !hash) throw new GatewayError(401, "invalid_api_key", "Invalid or revoked API key");
  rememberKeyHash(key, hash);
  c.set("tenant", tenant);
  c.var.ledger.event.tenant_id = tenant.tenantId;
  c.var.ledger.event.key_id = tenant.keyId;
  await next();
});
