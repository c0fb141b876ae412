// What makes a batch an OpenAI-shaped one: the link between it and its files, kept in R2 beside them.
// A batch without a link is Tollgate's inline form, rendered by its own routes; so the two forms share
// /v1/batches without ambiguity.

export type BatchEndpoint = "/v1/chat/completions" | "/v1/responses" | "/v1/embeddings";

export interface BatchLink {
  batch_id: string;
  input_file_id: string;
  endpoint: BatchEndpoint;
  output_file_id: string | null;
  error_file_id: string | null;
  finalized_at: number | null;
}

const linkPrefix = (tenantId: string) => `batches/${tenantId}/`;
const linkKey = (tenantId: string, batchId: string) => `${linkPrefix(tenantId)}${batchId}`;

export async function loadLink(bucket: R2Bucket, tenantId: string, batchId: string): Promise<BatchLink | null> {
  const object = await bucket.get(linkKey(tenantId, batchId));
  return object ? object.json<BatchLink>() : null;
}

export async function saveLink(bucket: R2Bucket, tenantId: string, link: BatchLink): Promise<void> {
  await bucket.put(linkKey(tenantId, link.batch_id), JSON.stringify(link), { httpMetadata: { contentType: "application/json" } });
}

/** Batch ids, newest first (they are ULIDs, so key order is creation order). */
export async function listLinkedBatchIds(bucket: R2Bucket, tenantId: string): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await bucket.list({ prefix: linkPrefix(tenantId), cursor });
    for (const object of page.objects) ids.push(object.key.slice(linkPrefix(tenantId).length));
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  return ids.reverse();
}
