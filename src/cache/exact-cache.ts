import * as z from "zod";
import type { ChatCompletion } from "../providers/provider-types";
import { HotEntries } from "./hot-entries";
import { OPTIONAL_OUTPUTS } from "./optional-outputs";

// Entries outlive their freshness by this much so that, when every provider is down, a stale answer
// is still there to serve (see lookupStale). Fresh lookups ignore them after fresh_until.
export const STALE_WINDOW_S = 24 * 3600;
// KV's own floor for expirationTtl.
export const MIN_TTL_S = 60;

const UsageSchema = z.object({ prompt_tokens: z.number(), completion_tokens: z.number(), total_tokens: z.number() });

// The cached completion is re-read from KV, which is an edge like any other: parse, don't trust.
const CompletionShape = z
  .object({
    id: z.string(),
    object: z.literal("chat.completion"),
    created: z.number(),
    model: z.string(),
    choices: z.array(
      z
        .object({
          index: z.number(),
          message: z.object({ role: z.literal("assistant"), content: z.string().nullable() }).loose(),
          finish_reason: z.enum(["stop", "length", "tool_calls", "content_filter"]).nullable(),
        })
        .loose(),
    ),
    usage: UsageSchema,
  })
  .loose();
const CompletionSchema = z.custom<ChatCompletion>((value) => CompletionShape.safeParse(value).success);

export const CacheEntrySchema = z.object({
  // 2 added `lacks`: a version-1 entry may be a recorded stream that dropped logprobs without saying
  // so, so it is no longer read (a miss that records a version-2 entry under the same key).
  v: z.literal(2),
  tenant_id: z.string(),
  completion: CompletionSchema,
  /** The last user turn it answered: the near-miss guard compares against it on a semantic match. */
  question: z.string().nullable(),
  /** The question's vector (base64 float32) and its embedder: the semantic verifier reads it. */
  question_vector: z.object({ embedder: z.string(), values: z.string() }).optional(),
  model: z.string(),
  provider: z.string(),
  tier: z.string(),
  /** What producing it cost: a hit saves exactly this. */
  cost_usd: z.number().nonnegative(),
  created_at: z.number(),
  fresh_until: z.number(),
  request_id: z.string(),
  /** Optional outputs the request asked for that this recording could not keep (see optional-outputs). */
  lacks: z.array(z.enum(OPTIONAL_OUTPUTS)),
});
export type CacheEntry = z.infer<typeof CacheEntrySchema>;

/** Small facts kept in KV metadata, readable by a list() without fetching values (audits, purges). */
export interface EntryMetadata {
  model: string;
  cost_usd: number;
  fresh_until: number;
}

// The tenant is in the clear so one tenant's entries can be listed or purged by prefix; the hash
// already covers it too.
export const entryKey = (tenantId: string, key: string): string => `xc:${tenantId}:${key}`;

// 8 MiB of answers per isolate: a few thousand typical entries, a small share of the 128 MB isolate.
const hot = new HotEntries<CacheEntry>(8 * 1024 * 1024);

function parse(text: string | null, tenantId: string): CacheEntry | undefined {
  if (!text) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return undefined;
  }
  const parsed = CacheEntrySchema.safeParse(raw);
  // A tenant mismatch cannot happen through the key, but an entry is never served across tenants.
  if (!parsed.success || parsed.data.tenant_id !== tenantId) return undefined;
  return parsed.data;
}

async function read(kv: KVNamespace, tenantId: string, key: string): Promise<CacheEntry | undefined> {
  const address = entryKey(tenantId, key);
  const local = hot.get(address);
  if (local) return local;
  // A cache that cannot be read is a miss, never a failed request; but it is worth a log line.
  const text = await kv.get(address, "text").catch((error: unknown) => {
    console.warn(JSON.stringify({ level: "warn", msg: "cache read failed", error: error instanceof Error ? error.message : String(error) }));
    return null;
  });
  const entry = parse(text, tenantId);
  if (entry && text) hot.set(address, entry, text.length);
  return entry;
}

/** A fresh entry, or nothing. */
export async function lookupExact(kv: KVNamespace, tenantId: string, key: string, now = Date.now()): Promise<CacheEntry | undefined> {
  const entry = await read(kv, tenantId, key);
  return entry && entry.fresh_until > now ? entry : undefined;
}

/** Any entry still in KV, fresh or not: the last resort when no provider can answer. */
export function lookupStale(kv: KVNamespace, tenantId: string, key: string): Promise<CacheEntry | undefined> {
  return read(kv, tenantId, key);
}

/** Writes the entry under `key`; KV keeps it for its freshness plus the stale window. */
export async function storeExact(kv: KVNamespace, key: string, entry: CacheEntry, now = Date.now()): Promise<void> {
  const metadata: EntryMetadata = { model: entry.model, cost_usd: entry.cost_usd, fresh_until: entry.fresh_until };
  const freshS = Math.ceil((entry.fresh_until - now) / 1000);
  const text = JSON.stringify(entry);
  const address = entryKey(entry.tenant_id, key);
  hot.set(address, entry, text.length);
  await kv.put(address, text, { expirationTtl: Math.max(MIN_TTL_S, freshS) + STALE_WINDOW_S, metadata });
}

/** Removes an entry (a wrong semantic hit reported by feedback). Other isolates' hot copies age out on their own. */
export async function evictExact(kv: KVNamespace, tenantId: string, key: string): Promise<void> {
  const address = entryKey(tenantId, key);
  hot.delete(address);
  await kv.delete(address);
}
