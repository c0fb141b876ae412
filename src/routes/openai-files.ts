import { Hono } from "hono";
import * as z from "zod";
import { GatewayError } from "../errors";
import { deleteFile, headFile, listFiles, putFile, readFile } from "../files/file-store";
import type { AppEnv } from "../hono-env";
import { validate } from "../validate/parse-json-body";

// The request body limit (1 MiB, app.ts) bounds an upload anyway; a batch file holds at most 1,000 requests.
const MAX_FILE_BYTES = 1024 * 1024;

const ListQuery = z.object({ limit: z.coerce.number().int().min(1).max(10_000).default(100), after: z.string().max(64).optional(), purpose: z.string().max(32).optional() });

/** POST/GET/DELETE /v1/files: OpenAI's Files API, for batch input (purpose "batch") and batch output. */
export const openaiFileRoutes = new Hono<AppEnv>()
  .post("/files", async (c) => {
    if (!/^multipart\/form-data/i.test(c.req.header("content-type") ?? "")) throw GatewayError.invalid("Content-Type must be multipart/form-data with `file` and `purpose`");
    const form = await c.req.parseBody();
    if (form.purpose !== "batch") throw GatewayError.invalid("purpose: only 'batch' files can be uploaded here", "purpose");
    const file = form.file;
    if (!(file instanceof File)) throw GatewayError.invalid("file: a file part is required", "file");
    if (file.size > MAX_FILE_BYTES) throw new GatewayError(413, "payload_too_large", `file: at most ${MAX_FILE_BYTES} bytes`, "file");
    const stored = await putFile(c.env.FILES, c.var.tenant.tenantId, { filename: file.name.slice(0, 256) || "upload.jsonl", purpose: "batch", content: await file.arrayBuffer() });
    return c.json(stored);
  })
  .get("/files", async (c) => {
    const query = validate(ListQuery, c.req.query());
    const { data, hasMore } = await listFiles(c.env.FILES, c.var.tenant.tenantId, query);
    return c.json({ object: "list", data, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null, has_more: hasMore });
  })
  .get("/files/:id", async (c) => {
    const file = await headFile(c.env.FILES, c.var.tenant.tenantId, c.req.param("id"));
    if (!file) throw GatewayError.notFound("file");
    return c.json(file);
  })
  .get("/files/:id/content", async (c) => {
    const object = await readFile(c.env.FILES, c.var.tenant.tenantId, c.req.param("id"));
    if (!object) throw GatewayError.notFound("file");
    return new Response(object.body, { headers: { "content-type": "application/jsonl; charset=utf-8", "content-length": String(object.size), "x-request-id": c.var.requestId } });
  })
  .delete("/files/:id", async (c) => {
    const id = c.req.param("id");
    if (!(await deleteFile(c.env.FILES, c.var.tenant.tenantId, id))) throw GatewayError.notFound("file");
    return c.json({ id, object: "file", deleted: true });
  });
