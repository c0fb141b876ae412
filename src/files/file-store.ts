import { ulid } from "../unique-id";

// OpenAI Files in R2. Keys start with the tenant id, so another tenant's file id is simply absent (404).
// The object's custom metadata carries what GET /v1/files/:id returns, so a HEAD answers it.

export type FilePurpose = "batch" | "batch_output";

export interface FileObject {
  id: string;
  object: "file";
  bytes: number;
  created_at: number;
  filename: string;
  purpose: FilePurpose;
  status: "processed";
  status_details: null;
}

const fileKey = (tenantId: string, id: string) => `files/${tenantId}/${id}`;

export const newFileId = () => `file-${ulid().toLowerCase()}`;

function toFileObject(id: string, object: R2Object): FileObject {
  const meta = object.customMetadata ?? {};
  return {
    id,
    object: "file",
    bytes: object.size,
    created_at: Number(meta.created_at ?? Math.floor(object.uploaded.getTime() / 1000)),
    filename: meta.filename ?? id,
    purpose: meta.purpose === "batch_output" ? "batch_output" : "batch",
    status: "processed",
    status_details: null,
  };
}

export async function putFile(bucket: R2Bucket, tenantId: string, file: { id?: string; filename: string; purpose: FilePurpose; content: string | ArrayBuffer }): Promise<FileObject> {
  const id = file.id ?? newFileId();
  const created = Math.floor(Date.now() / 1000);
  const object = await bucket.put(fileKey(tenantId, id), file.content, {
    httpMetadata: { contentType: "application/jsonl" },
    customMetadata: { filename: file.filename, purpose: file.purpose, created_at: String(created) },
  });
  return toFileObject(id, object);
}

export async function headFile(bucket: R2Bucket, tenantId: string, id: string): Promise<FileObject | null> {
  const object = await bucket.head(fileKey(tenantId, id));
  return object ? toFileObject(id, object) : null;
}

export function readFile(bucket: R2Bucket, tenantId: string, id: string): Promise<R2ObjectBody | null> {
  return bucket.get(fileKey(tenantId, id));
}

export async function deleteFile(bucket: R2Bucket, tenantId: string, id: string): Promise<boolean> {
  if (!(await bucket.head(fileKey(tenantId, id)))) return false;
  await bucket.delete(fileKey(tenantId, id));
  return true;
}

/** Newest first, as OpenAI lists them; ids are ULIDs, so key order is creation order. */
export async function listFiles(bucket: R2Bucket, tenantId: string, opts: { limit: number; after?: string; purpose?: string }): Promise<{ data: FileObject[]; hasMore: boolean }> {
  const prefix = `files/${tenantId}/`;
  const all: FileObject[] = [];
  let cursor: string | undefined;
  do {
    const page = await bucket.list({ prefix, cursor, include: ["customMetadata"] });
    for (const object of page.objects) all.push(toFileObject(object.key.slice(prefix.length), object));
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  const newest = all.filter((f) => !opts.purpose || f.purpose === opts.purpose).reverse();
  const start = opts.after ? newest.findIndex((f) => f.id === opts.after) + 1 : 0;
  const data = newest.slice(start, start + opts.limit);
  return { data, hasMore: start + opts.limit < newest.length };
}
