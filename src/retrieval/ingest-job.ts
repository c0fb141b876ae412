import * as z from "zod";
import { GatewayError } from "../errors";
import type { TenantContext } from "../hono-env";
import { laneQueue } from "../jobs/lanes";
import { loadWorkTenant, queueChatContext } from "../jobs/queue-chat-context";
import { RequestLedger } from "../ledger/request-ledger";
import { parseHints } from "../validate/request-hints";
import { createIngest, getCollection, getIngest, type IngestRow, updateIngest } from "./collection-store";
import { type IngestDocument, ingestDocuments } from "./ingest";

/** Above either bound an ingest goes to the batch lane and the request returns 202 with an ingest id. */
export const INLINE_MAX_DOCUMENTS = 64;
export const INLINE_MAX_CHARS = 256_000;
/** Documents per queue message: each slice is its own admission, ledger row and progress step. */
const SLICE_DOCUMENTS = 32;

/** Ids only, like every work message: the documents wait in R2, the progress in D1. */
export const IngestMessageSchema = z.object({
  type: z.literal("collection_ingest"),
  ingest_id: z.string().min(1).max(64),
  tenant_id: z.string().min(1).max(64),
  lane: z.literal("batch"),
});
export type IngestMessage = z.infer<typeof IngestMessageSchema>;

export const isLargeIngest = (docs: IngestDocument[]) => docs.length > INLINE_MAX_DOCUMENTS || docs.reduce((sum, d) => sum + d.text.length, 0) > INLINE_MAX_CHARS;

const payloadKey = (tenantId: string, ingestId: string) => `collection-ingests/${tenantId}/${ingestId}.json`;

export async function submitIngest(env: Env, tenant: TenantContext, collectionId: string, docs: IngestDocument[]): Promise<string> {
  const id = await createIngest(env.DB, { tenant_id: tenant.tenantId, key_id: tenant.keyId || null, collection_id: collectionId, documents_total: docs.length });
  await env.FILES.put(payloadKey(tenant.tenantId, id), JSON.stringify(docs));
  const message: IngestMessage = { type: "collection_ingest", ingest_id: id, tenant_id: tenant.tenantId, lane: "batch" };
  await laneQueue(env, "batch").send(message, { contentType: "json" });
  return id;
}

export function ingestView(row: IngestRow) {
  return {
    id: row.id,
    object: "collection.ingest" as const,
    collection: row.collection_id,
    status: row.status,
    documents_total: row.documents_total,
    documents_done: row.documents_done,
    chunks_written: row.chunks_written,
    cost_usd: row.cost_usd,
    error: row.error,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

async function fail(env: Env, row: IngestRow, error: string): Promise<{ retryDelayS?: number }> {
  await updateIngest(env.DB, row.id, { status: "failed", error: error.slice(0, 500) });
  await env.FILES.delete(payloadKey(row.tenant_id, row.id)).catch(() => undefined);
  return {};
}

/**
 * One slice of a queued ingest: the same chunk → embed (admitted, ledgered) → store as the inline
 * path, then the progress moves and the next slice is queued. A redelivered message finds the
 * progress already moved, and re-sent documents are unchanged, so nothing is paid twice.
 */
export async function runIngestSlice(env: Env, waitUntil: (p: Promise<unknown>) => void, message: IngestMessage): Promise<{ retryDelayS?: number }> {
  const row = await getIngest(env.DB, message.tenant_id, message.ingest_id);
  if (!row || row.status === "completed" || row.status === "failed") return {};
  const loaded = await loadWorkTenant(env, row.tenant_id, row.key_id);
  if ("error" in loaded) return fail(env, row, loaded.error.message);
  const object = await env.FILES.get(payloadKey(row.tenant_id, row.id));
  if (!object) return fail(env, row, "the ingest's documents are gone");
  const docs = await object.json<IngestDocument[]>();
  const slice = docs.slice(row.documents_done, row.documents_done + SLICE_DOCUMENTS);
  let collection;
  try {
    collection = await getCollection(env.DB, row.tenant_id, row.collection_id);
  } catch {
    return fail(env, row, "the collection was deleted");
  }
  const ledger = new RequestLedger(`${row.id}:${row.documents_done}`, "/v1/collections/documents");
  Object.assign(ledger.event, { tenant_id: row.tenant_id, key_id: row.key_id });
  const ctx = queueChatContext(env, waitUntil, loaded.tenant, parseHints(() => undefined), ledger, undefined);
  await updateIngest(env.DB, row.id, { status: "running" });
  try {
    const outcome = await ingestDocuments(ctx, collection, slice);
    await ledger.flush(env, 200);
    const done = row.documents_done + slice.length;
    const finished = done >= docs.length;
    await updateIngest(env.DB, row.id, { documents_done: done, chunks_written: row.chunks_written + outcome.chunks_written, cost_usd: row.cost_usd + outcome.cost_usd, status: finished ? "completed" : "running" });
    if (finished) await env.FILES.delete(payloadKey(row.tenant_id, row.id)).catch(() => undefined);
    else await laneQueue(env, "batch").send(message, { contentType: "json" });
    return {};
  } catch (error) {
    const gateway = error instanceof GatewayError ? error : undefined;
    Object.assign(ledger.event, { status: gateway?.status ?? 500, error_code: gateway?.code ?? "internal_error" });
    await ledger.flush(env, gateway?.status ?? 500);
    // A refused budget or a bad request will not get better by retrying; a provider outage may.
    if (gateway && gateway.status < 500) return fail(env, row, `${gateway.code}: ${gateway.message}`);
    return { retryDelayS: 30 };
  }
}
