import * as z from "zod";
import { sha256Hex } from "../auth/key-hash";
import { GatewayError } from "../errors";

/** Tool results are small facts; a bigger value belongs in object storage, not the edge cache. */
export const MEMO_MAX_BYTES = 256 * 1024;
export const MEMO_DEFAULT_TTL_S = 3600;
export const MEMO_MAX_TTL_S = 30 * 24 * 3600;

export const MemoAddressSchema = z.object({
  namespace: z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, "must be 1-64 of A-Z a-z 0-9 _ . : -"),
  key: z.string().min(1).max(512),
});
export type MemoAddress = z.infer<typeof MemoAddressSchema>;

export const MemoTtlSchema = z.coerce.number().int().min(60).max(MEMO_MAX_TTL_S);

// The content type goes back out as a response header: an entry whose type could not be a header value
// (CR/LF, other controls; only possible if KV was written by someone else) is treated as absent.
const HEADER_SAFE = /^[\t\x20-\x7e]{0,128}$/;
const MemoMetadataSchema = z.object({ content_type: z.string().regex(HEADER_SAFE), bytes: z.number(), created_at: z.number(), expires_at: z.number() });
export type MemoMetadata = z.infer<typeof MemoMetadataSchema>;

// The tenant is part of the KV key itself: no request can name another tenant's entry. The caller's
// key is hashed so any string (slashes, unicode, 512 characters) fits KV's key rules.
async function kvKey(tenantId: string, address: MemoAddress): Promise<string> {
  return `memo:${tenantId}:${address.namespace}:${await sha256Hex(address.key)}`;
}

export interface MemoValue {
  body: ArrayBuffer;
  metadata: MemoMetadata;
}

export async function readMemo(kv: KVNamespace, tenantId: string, address: MemoAddress): Promise<MemoValue | undefined> {
  const { value, metadata } = await kv.getWithMetadata(await kvKey(tenantId, address), "arrayBuffer");
  const parsed = MemoMetadataSchema.safeParse(metadata);
  // KV may serve a value for up to a minute past its expiry at the edge; the memo's own TTL is exact.
  if (!value || !parsed.success || parsed.data.expires_at <= Date.now()) return undefined;
  return { body: value, metadata: parsed.data };
}

export async function writeMemo(kv: KVNamespace, tenantId: string, address: MemoAddress, body: ArrayBuffer, contentType: string, ttlS: number): Promise<MemoMetadata> {
  if (body.byteLength > MEMO_MAX_BYTES) throw new GatewayError(413, "payload_too_large", `Memo values are limited to ${MEMO_MAX_BYTES} bytes`);
  const now = Date.now();
  const type = contentType.slice(0, 128);
  const metadata: MemoMetadata = { content_type: HEADER_SAFE.test(type) ? type : "application/octet-stream", bytes: body.byteLength, created_at: now, expires_at: now + ttlS * 1000 };
  await kv.put(await kvKey(tenantId, address), body, { expirationTtl: ttlS, metadata });
  return metadata;
}

export async function deleteMemo(kv: KVNamespace, tenantId: string, address: MemoAddress): Promise<void> {
  await kv.delete(await kvKey(tenantId, address));
}
