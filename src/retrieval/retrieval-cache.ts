import { sha256Hex } from "../auth/key-hash";
import { canonicalJson } from "../cache/cache-key";
import type { MetadataFilter } from "../vectors/metadata-filter";
import type { RetrievedChunk } from "./context-packing";

/** A version bump makes old entries unreachable, so the TTL only bounds how long dead ones linger. */
const RETRIEVAL_TTL_S = 24 * 3600;
const SUMMARY_TTL_S = 24 * 3600;

/** Case and spacing do not change what a question asks for; they must not split the cache. */
export const normaliseQuery = (query: string) => query.normalize("NFKC").trim().replace(/\s+/g, " ").toLowerCase();

export interface RetrievalKeyParts {
  tenantId: string;
  collectionId: string;
  version: number;
  query: string;
  topK: number;
  filter: MetadataFilter | undefined;
  minScore: number | undefined;
}

// Every part is hashed, the tenant included: a key never shows whose it is or what was asked.
export const retrievalKey = async (p: RetrievalKeyParts) =>
  `rag:${await sha256Hex(JSON.stringify([p.tenantId, p.collectionId, p.version, normaliseQuery(p.query), p.topK, canonicalJson(p.filter ?? null), p.minScore ?? null]))}`;

export const summaryKey = async (tenantId: string, collectionId: string, version: number, query: string) =>
  `ragsum:${await sha256Hex(JSON.stringify([tenantId, collectionId, version, normaliseQuery(query)]))}`;

export async function readRetrieval(kv: KVNamespace, key: string): Promise<RetrievedChunk[] | null> {
  return kv.get<RetrievedChunk[]>(key, "json").catch(() => null);
}

export async function writeRetrieval(kv: KVNamespace, key: string, chunks: RetrievedChunk[]): Promise<void> {
  await kv.put(key, JSON.stringify(chunks), { expirationTtl: RETRIEVAL_TTL_S }).catch(() => undefined);
}

export interface CachedSummary {
  text: string;
  sources: string[];
}

export async function readSummary(kv: KVNamespace, key: string): Promise<CachedSummary | null> {
  return kv.get<CachedSummary>(key, "json").catch(() => null);
}

export async function writeSummary(kv: KVNamespace, key: string, summary: CachedSummary): Promise<void> {
  await kv.put(key, JSON.stringify(summary), { expirationTtl: SUMMARY_TTL_S }).catch(() => undefined);
}
