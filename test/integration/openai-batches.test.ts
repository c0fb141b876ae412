import { describe, expect, it } from "vitest";
import { z } from "zod";
import { call, createTenant } from "../fixtures/gateway";
import { runCron, waitFor } from "../fixtures/jobs-fixtures";
import { CreateChatCompletionResponse, CreateEmbeddingResponse, ResponseObject } from "../fixtures/openai-spec-schemas";
import { openaiClient } from "../fixtures/sdk-clients";

// Batch and OpenAIFile from OpenAI's OpenAPI description: their `required` lists.
const BatchSchema = z.object({
  id: z.string(),
  object: z.literal("batch"),
  endpoint: z.string(),
  input_file_id: z.string(),
  completion_window: z.string(),
  status: z.enum(["validating", "failed", "in_progress", "finalizing", "completed", "expired", "cancelling", "cancelled"]),
  created_at: z.number().int(),
  request_counts: z.object({ total: z.number().int(), completed: z.number().int(), failed: z.number().int() }),
}).loose();
const FileSchema = z.object({ id: z.string(), object: z.literal("file"), bytes: z.number().int(), created_at: z.number().int(), filename: z.string(), purpose: z.string(), status: z.string() });
const OutputLine = z.object({ id: z.string(), custom_id: z.string(), response: z.object({ status_code: z.number().int(), body: z.unknown() }).nullable(), error: z.object({ code: z.string(), message: z.string() }).nullable() });

/** A tenant whose off-peak window is open now, so a batch is released at once. */
const tenantInWindow = () => {
  const hour = new Date().getUTCHours();
  return createTenant({ policy: { off_peak: { start_hour: hour, end_hour: (hour + 2) % 24 } } });
};
/** A tenant whose window is hours away, so a batch waits. */
const tenantOutsideWindow = () => {
  const start = (new Date().getUTCHours() + 3) % 24;
  return createTenant({ policy: { off_peak: { start_hour: start, end_hour: (start + 2) % 24 } } });
};

const jsonl = (lines: unknown[]) => new File([lines.map((l) => JSON.stringify(l)).join("\n")], "batch.jsonl", { type: "application/jsonl" });
const chatLine = (i: number) => ({ custom_id: `q-${i}`, method: "POST", url: "/v1/chat/completions", body: { model: "sim/fast", messages: [{ role: "user", content: `Batch question ${i}` }] } });

async function finished(client: ReturnType<typeof openaiClient>, id: string) {
  return waitFor(async () => {
    const batch = await client.batches.retrieve(id);
    return ["completed", "cancelled", "failed"].includes(batch.status) ? batch : null;
  }, `batch ${id} to finish`);
}

describe("OpenAI Files and Batch API through the openai SDK", () => {
  it("files.create → batches.create → the output file, in OpenAI's line format", async () => {
    const { key } = await tenantInWindow();
    const client = openaiClient(key);
    const file = await client.files.create({ file: jsonl([chatLine(1), chatLine(2), chatLine(3)]), purpose: "batch" });
    expect(FileSchema.safeParse(file).success).toBe(true);
    expect(file.purpose).toBe("batch");
    const batch = await client.batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h", metadata: { run: "nightly" } });
    expect(BatchSchema.parse(batch)).toMatchObject({ input_file_id: file.id, endpoint: "/v1/chat/completions" });
    const done = await finished(client, batch.id);
    expect(BatchSchema.parse(done)).toMatchObject({ status: "completed", request_counts: { total: 3, completed: 3, failed: 0 }, metadata: { run: "nightly" } });
    expect(done.error_file_id).toBeNull();
    const content = await (await client.files.content(done.output_file_id ?? "")).text();
    const lines = content.trim().split("\n").map((l) => OutputLine.parse(JSON.parse(l)));
    expect(lines.map((l) => l.custom_id)).toEqual(["q-1", "q-2", "q-3"]);
    for (const [i, line] of lines.entries()) {
      expect(line.response?.status_code).toBe(200);
      const body = CreateChatCompletionResponse.parse(line.response?.body);
      expect(body.choices[0]?.message.content).toContain(`Batch question ${i + 1}`);
    }
    const outputFile = await client.files.retrieve(done.output_file_id ?? "");
    expect(outputFile.purpose).toBe("batch_output");
    const listed = await client.batches.list();
    expect(listed.data.map((b) => b.id)).toContain(batch.id);
  });

  it("a /v1/embeddings batch answers each line with an embeddings list, through the same admission and ledger", async () => {
    const tenant = await tenantInWindow();
    const client = openaiClient(tenant.key);
    const line = (i: number, extra: Record<string, unknown> = {}) => ({ custom_id: `e-${i}`, method: "POST", url: "/v1/embeddings", body: { model: "sim/embed", input: [`chunk ${i} a`, `chunk ${i} b`], ...extra } });
    const file = await client.files.create({ file: jsonl([line(1), line(2, { encoding_format: "base64" })]), purpose: "batch" });
    const batch = await client.batches.create({ input_file_id: file.id, endpoint: "/v1/embeddings", completion_window: "24h" });
    expect(batch.endpoint).toBe("/v1/embeddings");
    const done = await finished(client, batch.id);
    expect(done).toMatchObject({ status: "completed", request_counts: { total: 2, completed: 2, failed: 0 } });
    const lines = (await (await client.files.content(done.output_file_id ?? "")).text()).trim().split("\n").map((l) => OutputLine.parse(JSON.parse(l)));
    const [floats, base64] = lines.map((l) => CreateEmbeddingResponse.parse(l.response?.body));
    expect(floats?.data.map((d) => d.index)).toEqual([0, 1]);
    expect(Array.isArray(floats?.data[0]?.embedding)).toBe(true);
    expect(typeof base64?.data[0]?.embedding).toBe("string");
    expect(floats?.model).toBe("sim/embed");
    const rows = await waitFor(async () => {
      const found = await call(`/v1/usage?group_by=model`, { headers: { authorization: `Bearer ${tenant.key}` } }).then((r) => r.json<{ data: { model?: string; requests: number }[] }>());
      const embed = found.data.find((d) => d.model === "sim/embed");
      return embed && embed.requests >= 2 ? embed : null;
    }, "two embeddings rows in the ledger");
    expect(rows.requests).toBe(2);
  });

  it("an embeddings batch with a chat model, or a bad line, is refused at creation", async () => {
    const { key } = await tenantInWindow();
    const client = openaiClient(key);
    const wrongModel = await client.files.create({ file: jsonl([{ custom_id: "x", method: "POST", url: "/v1/embeddings", body: { model: "sim/fast", input: "hi" } }]), purpose: "batch" });
    await expect(client.batches.create({ input_file_id: wrongModel.id, endpoint: "/v1/embeddings", completion_window: "24h" })).rejects.toMatchObject({ status: 400 });
    const noInput = await client.files.create({ file: jsonl([{ custom_id: "y", method: "POST", url: "/v1/embeddings", body: { model: "sim/embed" } }]), purpose: "batch" });
    await expect(client.batches.create({ input_file_id: noInput.id, endpoint: "/v1/embeddings", completion_window: "24h" })).rejects.toMatchObject({ status: 400 });
  });

  it("a /v1/responses batch answers each line with a Response object", async () => {
    const { key } = await tenantInWindow();
    const client = openaiClient(key);
    const file = await client.files.create({
      file: jsonl([{ custom_id: "r-1", method: "POST", url: "/v1/responses", body: { model: "sim/fast", instructions: "Be brief.", input: "Responses in a batch" } }]),
      purpose: "batch",
    });
    const batch = await client.batches.create({ input_file_id: file.id, endpoint: "/v1/responses", completion_window: "24h" });
    const done = await finished(client, batch.id);
    expect(done.status).toBe("completed");
    const [line] = (await (await client.files.content(done.output_file_id ?? "")).text()).trim().split("\n").map((l) => OutputLine.parse(JSON.parse(l)));
    const response = ResponseObject.parse(line?.response?.body);
    expect(response.instructions).toBe("Be brief.");
    expect(JSON.stringify(response.output)).toContain("Responses in a batch");
  });

  it("a deferred batch waits for the off-peak window; the cron inside it releases the batch to completion", async () => {
    const { key } = await tenantOutsideWindow();
    const client = openaiClient(key);
    const file = await client.files.create({ file: jsonl([chatLine(7)]), purpose: "batch" });
    const batch = await client.batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
    expect((batch as unknown as { tollgate: { status: string } }).tollgate.status).toBe("deferred");
    expect(batch.output_file_id).toBeNull();
    // The window opens 3 hours from now (tenantOutsideWindow): a cron tick inside it releases the batch.
    const opens = new Date(Date.now() + 3 * 3600_000);
    opens.setUTCMinutes(30, 0, 0);
    await runCron(opens);
    const done = await finished(client, batch.id);
    expect(done).toMatchObject({ status: "completed", request_counts: { total: 1, completed: 1, failed: 0 } });
    expect((done as unknown as { tollgate: { release_reason: string } }).tollgate.release_reason).toBe("off_peak_window");
    const [line] = (await (await client.files.content(done.output_file_id ?? "")).text()).trim().split("\n").map((l) => OutputLine.parse(JSON.parse(l)));
    expect(line?.custom_id).toBe("q-7");
  });

  it("off-peak deferral holds the batch; cancel lists every line in the error file", async () => {
    const { key } = await tenantOutsideWindow();
    const client = openaiClient(key);
    const file = await client.files.create({ file: jsonl([chatLine(1), chatLine(2)]), purpose: "batch" });
    const batch = await client.batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
    expect(batch.status).toBe("in_progress");
    expect((batch as unknown as { tollgate: { status: string } }).tollgate.status).toBe("deferred");
    const cancelled = await client.batches.cancel(batch.id);
    expect(cancelled.status).toBe("cancelled");
    const errors = (await (await client.files.content(cancelled.error_file_id ?? "")).text()).trim().split("\n").map((l) => OutputLine.parse(JSON.parse(l)));
    expect(errors.map((e) => [e.custom_id, e.error?.code])).toEqual([
      ["q-1", "batch_cancelled"],
      ["q-2", "batch_cancelled"],
    ]);
  });

  it("files and batches are tenant-scoped; bad input is a 400 naming the field; the inline form still works", async () => {
    const owner = await tenantInWindow();
    const other = await createTenant();
    const client = openaiClient(owner.key);
    const file = await client.files.create({ file: jsonl([chatLine(1)]), purpose: "batch" });
    const batch = await client.batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
    const asOther = { authorization: `Bearer ${other.key}`, "content-type": "application/json" };
    expect((await call(`/v1/files/${file.id}`, { headers: asOther })).status).toBe(404);
    expect((await call(`/v1/files/${file.id}/content`, { headers: asOther })).status).toBe(404);
    expect((await call(`/v1/batches/${batch.id}`, { headers: asOther })).status).toBe(404);
    const stolen = await call("/v1/batches", { method: "POST", headers: asOther, body: JSON.stringify({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" }) });
    expect(stolen.status).toBe(404);

    const asOwner = { authorization: `Bearer ${owner.key}`, "content-type": "application/json" };
    const legacy = await call("/v1/batches", { method: "POST", headers: asOwner, body: JSON.stringify({ input_file_id: file.id, endpoint: "/v1/completions", completion_window: "24h" }) });
    expect(legacy.status).toBe(400);
    expect((await legacy.json<{ error: { param: string } }>()).error.param).toBe("endpoint");
    // A chat file sent as an embeddings batch: its lines name another endpoint.
    const mismatched = await call("/v1/batches", { method: "POST", headers: asOwner, body: JSON.stringify({ input_file_id: file.id, endpoint: "/v1/embeddings", completion_window: "24h" }) });
    expect(mismatched.status).toBe(400);
    expect((await mismatched.json<{ error: { param: string } }>()).error.param).toBe("input_file_id");
    const badFile = await client.files.create({ file: new File(['{"custom_id":"x"}\nnot json'], "bad.jsonl"), purpose: "batch" });
    const bad = await call("/v1/batches", { method: "POST", headers: asOwner, body: JSON.stringify({ input_file_id: badFile.id, endpoint: "/v1/chat/completions", completion_window: "24h" }) });
    expect(bad.status).toBe(400);
    expect((await bad.json<{ error: { message: string } }>()).error.message).toMatch(/line 1/);

    const inline = await call("/v1/batches", { method: "POST", headers: asOwner, body: JSON.stringify({ requests: [{ custom_id: "a", body: { model: "sim/fast", messages: [{ role: "user", content: "inline" }] } }] }) });
    expect(inline.status).toBe(202);
    const inlineView = await inline.json<{ id: string; results_url: string }>();
    expect((await call(`/v1/batches/${inlineView.id}`, { headers: asOwner })).status).toBe(200);

    await client.files.delete(file.id);
    expect((await call(`/v1/files/${file.id}`, { headers: asOwner })).status).toBe(404);
  });
});
