import { Hono } from "hono";
import * as z from "zod";
import { GatewayError } from "../errors";
import type { AppEnv } from "../hono-env";
import { type Collection, createCollection, deleteCollection, deleteDocument, documentChunks, getCollection, getIngest, latestIngests, listCollections } from "../retrieval/collection-store";
import { defaultEmbeddingModel, embeddingModel } from "../retrieval/collection-embedder";
import { IngestDocumentSchema, ingestDocuments } from "../retrieval/ingest";
import { ingestView, isLargeIngest, submitIngest } from "../retrieval/ingest-job";
import { searchCollection } from "../retrieval/search";
import { MetadataFilterSchema } from "../vectors/metadata-filter";
import { vectorStore } from "../vectors/vector-store";
import { parseJsonBody } from "../validate/parse-json-body";
import { parseHints } from "../validate/request-hints";
import { chatContext, stage } from "./chat-context";

const CreateSchema = z.object({ name: z.string().min(1).max(128), embedding_model: z.string().min(1).max(256).optional() }).strict();
const DocumentsSchema = z.object({ documents: z.array(IngestDocumentSchema).min(1).max(5000) }).strict();
const SearchSchema = z
  .object({
    query: z.string().min(1).max(8192),
    top_k: z.number().int().min(1).max(100).optional(),
    filter: MetadataFilterSchema.optional(),
    min_score: z.number().min(-1).max(1).optional(),
  })
  .strict();

const view = (c: Collection) => ({
  id: c.id,
  object: "collection" as const,
  name: c.name,
  embedding_model: c.embedding_model,
  version: c.version,
  document_count: c.document_count,
  chunk_count: c.chunk_count,
  created_at: c.created_at,
  updated_at: c.updated_at,
});

/** Tenant collections (issue 17): every lookup is by (id, tenant), so another tenant's id is a 404. */
export const collectionRoutes = new Hono<AppEnv>()
  .post("/collections", async (c) => {
    const body = await parseJsonBody(c, CreateSchema);
    const ctx = chatContext(c, parseHints((name) => c.req.header(name)));
    // The model is checked now (catalog, allow-list), not at the first ingest.
    const model = embeddingModel(ctx, body.embedding_model ?? defaultEmbeddingModel(c.env, ctx)).id;
    return c.json(view(await createCollection(c.env.DB, c.var.tenant.tenantId, body.name, model)), 201);
  })
  .get("/collections", async (c) => {
    const data = (await listCollections(c.env.DB, c.var.tenant.tenantId)).map(view);
    return c.json({ object: "list", data });
  })
  .get("/collections/:id", async (c) => {
    const collection = await getCollection(c.env.DB, c.var.tenant.tenantId, c.req.param("id"));
    return c.json({ ...view(collection), ingests: (await latestIngests(c.env.DB, collection.id)).map(ingestView) });
  })
  .get("/collections/:id/ingests/:ingest", async (c) => {
    const collection = await getCollection(c.env.DB, c.var.tenant.tenantId, c.req.param("id"));
    const row = await getIngest(c.env.DB, c.var.tenant.tenantId, c.req.param("ingest"));
    if (!row || row.collection_id !== collection.id) throw GatewayError.notFound("ingest");
    return c.json(ingestView(row));
  })
  .delete("/collections/:id", async (c) => {
    const collection = await getCollection(c.env.DB, c.var.tenant.tenantId, c.req.param("id"));
    const chunkIds = await deleteCollection(c.env.DB, collection);
    if (chunkIds.length) await vectorStore(c.env).remove(collection.tenant_id, chunkIds);
    return c.json({ id: collection.id, object: "collection.deleted", deleted: true, chunks_removed: chunkIds.length });
  })
  .delete("/collections/:id/documents/:doc", async (c) => {
    const collection = await getCollection(c.env.DB, c.var.tenant.tenantId, c.req.param("id"));
    const docId = c.req.param("doc");
    const chunkIds = await documentChunks(c.env.DB, collection.id, docId);
    if (!chunkIds) throw GatewayError.notFound("document");
    // The chunks leave the store before the version moves: no search under the new version can find them.
    if (chunkIds.length) await vectorStore(c.env).remove(collection.tenant_id, chunkIds);
    await deleteDocument(c.env.DB, collection, docId);
    return c.json({ id: docId, object: "collection.document.deleted", collection: collection.id, deleted: true, chunks_removed: chunkIds.length });
  })
  .post("/collections/:id/documents", async (c) => {
    const body = await stage(c, "validate", () => parseJsonBody(c, DocumentsSchema));
    const collection = await getCollection(c.env.DB, c.var.tenant.tenantId, c.req.param("id"));
    const ctx = chatContext(c, parseHints((name) => c.req.header(name)));
    if (isLargeIngest(body.documents)) {
      // The embedding model is checked against the policy before anything is queued.
      embeddingModel(ctx, collection.embedding_model);
      const id = await submitIngest(c.env, c.var.tenant, collection.id, body.documents);
      const row = await getIngest(c.env.DB, c.var.tenant.tenantId, id);
      return c.json(row ? ingestView(row) : { id }, 202);
    }
    const outcome = await ingestDocuments(ctx, collection, body.documents);
    c.header("x-tollgate-cost-usd", outcome.cost_usd.toFixed(8));
    return c.json({ object: "collection.ingest", collection: collection.id, status: "completed", ...outcome });
  })
  .post("/collections/:id/search", async (c) => {
    const body = await stage(c, "validate", () => parseJsonBody(c, SearchSchema));
    const collection = await getCollection(c.env.DB, c.var.tenant.tenantId, c.req.param("id"));
    const ctx = chatContext(c, parseHints((name) => c.req.header(name)));
    const cap = c.var.tenant.policy.retrieval.max_top_k;
    const topK = Math.min(body.top_k ?? cap, cap);
    const outcome = await searchCollection(ctx, collection, { query: body.query, topK, filter: body.filter, minScore: body.min_score });
    c.header("x-tollgate-retrieval-cache", outcome.cache);
    c.header("x-tollgate-cost-usd", outcome.costUsd.toFixed(8));
    return c.json({ object: "list", collection: collection.id, version: outcome.version, top_k: topK, cache: outcome.cache, data: outcome.chunks });
  });
