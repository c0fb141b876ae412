import { type Context, Hono } from "hono";
import { deleteMemo, MEMO_DEFAULT_TTL_S, MEMO_MAX_BYTES, MemoAddressSchema, MemoTtlSchema, readMemo, writeMemo } from "../cache/tool-memo";
import { GatewayError } from "../errors";
import type { AppEnv } from "../hono-env";
import { validate } from "../validate/parse-json-body";

/**
 * GET|PUT|DELETE /v1/memo/:namespace/:key: a tenant-scoped memo for tool results. The value is
 * stored as sent (any content type) and returned with that content type until its TTL runs out.
 */
const address = (c: Context<AppEnv>) => validate(MemoAddressSchema, { namespace: c.req.param("namespace"), key: c.req.param("key") });

function ttlOf(c: Context<AppEnv>): number {
  const raw = c.req.query("ttl_s") ?? c.req.header("x-tollgate-cache-ttl");
  if (raw === undefined || raw === "") return MEMO_DEFAULT_TTL_S;
  const parsed = MemoTtlSchema.safeParse(raw);
  if (!parsed.success) throw GatewayError.invalid(`ttl_s: ${parsed.error.issues[0]?.message ?? "invalid"}`, "ttl_s");
  return parsed.data;
}

export const memoRoutes = new Hono<AppEnv>()
  .get("/memo/:namespace/:key{.+}", async (c) => {
    const memo = await readMemo(c.env.CACHE_KV, c.var.tenant.tenantId, address(c));
    if (!memo) throw GatewayError.notFound("memo entry");
    return c.body(memo.body, 200, {
      "content-type": memo.metadata.content_type,
      "x-tollgate-memo-expires-at": new Date(memo.metadata.expires_at).toISOString(),
    });
  })
  .put("/memo/:namespace/:key{.+}", async (c) => {
    const target = address(c);
    const ttlS = ttlOf(c);
    // Refused before reading when the client says up front that it is too big.
    if (Number(c.req.header("content-length") ?? 0) > MEMO_MAX_BYTES) throw new GatewayError(413, "payload_too_large", `Memo values are limited to ${MEMO_MAX_BYTES} bytes`);
    const body = await c.req.arrayBuffer();
    if (body.byteLength === 0) throw GatewayError.invalid("A memo value cannot be empty", "body");
    const contentType = c.req.header("content-type") || "application/octet-stream";
    const metadata = await writeMemo(c.env.CACHE_KV, c.var.tenant.tenantId, target, body, contentType, ttlS);
    return c.json({ namespace: target.namespace, key: target.key, bytes: metadata.bytes, ttl_s: ttlS, expires_at: new Date(metadata.expires_at).toISOString() }, 201);
  })
  .delete("/memo/:namespace/:key{.+}", async (c) => {
    await deleteMemo(c.env.CACHE_KV, c.var.tenant.tenantId, address(c));
    return c.body(null, 204);
  });
