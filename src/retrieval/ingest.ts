import * as z from "zod";
import { sha256Hex } from "../auth/key-hash";
import type { ChatContext } from "../pipeline/chat-types";
import { type VectorRecord, vectorStore } from "../vectors/vector-store";
import { chunkRecords, CHUNK_FIELDS } from "./chunk-records";
import { type Chunk, chunkText } from "./chunking";
import { applyChanges, type Collection, type DocumentChange, storedDocuments } from "./collection-store";
import { embedAsSpend } from "./collection-embedder";

const MetadataValueSchema = z.union([z.string().max(256), z.number().finite(), z.boolean()]);

export const IngestDocumentSchema = z
  .object({
    id: z.string().min(1).max(256),
    text: z.string().min(1).max(500_000),
    metadata: z
      .record(z.string().min(1).max(64).regex(/^[A-Za-z0-9_-]+$/, "metadata keys are letters, digits, _ and -"), MetadataValueSchema)
      .refine((m) => Object.keys(m).length <= 16, "at most 16 metadata keys")
      .refine((m) => !Object.keys(m).some((key) => CHUNK_FIELDS.has(key)), `metadata may not use the reserved keys ${[...CHUNK_FIELDS].join(", ")}`)
      .optional(),
  })
  .strict();
export type IngestDocument = z.infer<typeof IngestDocumentSchema>;

export interface DocumentOutcome {
  id: string;
  status: "added" | "replaced" | "unchanged";
  chunks: number;
}

export interface IngestOutcome {
  version: number;
  documents: DocumentOutcome[];
  chunks_written: number;
  /** Chunks whose embedding came from the embedding cache (no provider call). */
  chunks_cached: number;
  cost_usd: number;
}

// Vectorize takes at most 1,000 vectors per upsert; the local store is happier with fewer at a time.
const UPSERT_BATCH = 200;

const contentHash = (doc: IngestDocument) => sha256Hex(JSON.stringify([doc.text, doc.metadata ?? null]));

/**
 * Chunks, embeds (admitted spend, through the embedding cache) and stores documents. A document whose
 * text and metadata are unchanged is skipped outright; a changed one gets its new chunks written, then
 * its old ones removed, and the collection's version moves once for the whole call.
 */
export async function ingestDocuments(ctx: ChatContext, collection: Collection, input: IngestDocument[]): Promise<IngestOutcome> {
  const { env, tenant } = ctx;
  // The last copy of a repeated id wins, as if the documents had been sent one after the other.
  const docs = [...new Map(input.map((doc) => [doc.id, doc])).values()];
  const hashes = await Promise.all(docs.map(contentHash));
  const stored = await storedDocuments(env.DB, collection.id, docs.map((d) => d.id));
  const outcomes: DocumentOutcome[] = [];
  const work: { doc: IngestDocument; hash: string; chunks: Chunk[] }[] = [];
  docs.forEach((doc, i) => {
    const hash = hashes[i] ?? "";
    const before = stored.get(doc.id);
    if (before?.content_hash === hash) outcomes.push({ id: doc.id, status: "unchanged", chunks: before.chunk_ids.length });
    else work.push({ doc, hash, chunks: chunkText(doc.text) });
  });
  if (!work.length) {
    Object.assign(ctx.ledger.event, { cache: "exact", model: collection.embedding_model });
    return { version: collection.version, documents: outcomes, chunks_written: 0, chunks_cached: 0, cost_usd: 0 };
  }

  const texts = work.flatMap((w) => w.chunks.map((c) => c.text));
  const spend = await embedAsSpend(ctx, collection.embedding_model, texts, tenant.tenantId);
  const store = vectorStore(env);
  const changes: DocumentChange[] = [];
  const stale: string[] = [];
  let offset = 0;
  const records: VectorRecord[] = [];
  for (const { doc, hash, chunks } of work) {
    const docRecords = await chunkRecords(collection.id, doc.id, hash, chunks, spend.vectors.slice(offset, offset + chunks.length), doc.metadata);
    offset += chunks.length;
    records.push(...docRecords);
    const ids = docRecords.map((r) => r.id);
    const kept = new Set(ids);
    stale.push(...(stored.get(doc.id)?.chunk_ids ?? []).filter((id) => !kept.has(id)));
    changes.push({ docId: doc.id, contentHash: hash, chunkIds: ids, metadata: doc.metadata });
    outcomes.push({ id: doc.id, status: stored.has(doc.id) ? "replaced" : "added", chunks: chunks.length });
  }
  await ctx.stage("store", async () => {
    for (let i = 0; i < records.length; i += UPSERT_BATCH) await store.upsert(tenant.tenantId, records.slice(i, i + UPSERT_BATCH));
    // New chunks first, then the old ones go: a search in between sees both, never neither.
    if (stale.length) await store.remove(tenant.tenantId, stale);
  });
  const version = await applyChanges(env.DB, collection, changes);
  return { version, documents: outcomes, chunks_written: records.length, chunks_cached: spend.cachedTexts, cost_usd: spend.costUsd };
}
