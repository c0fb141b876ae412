import { describe, expect, it } from "vitest";
import { call, createTenant, ledgerRow } from "../fixtures/gateway";
import { chatBody, postJob, waitForJob } from "../fixtures/jobs-fixtures";

// Embeddings and queued work are model calls too: in a session they are steps, checked before anything is spent.

function embed(key: string, input: string, session: string): Promise<Response> {
  return call("/v1/embeddings", {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json", "x-tollgate-session": session },
    body: JSON.stringify({ model: "sim/embed", input }),
  });
}

describe("embeddings in an agent session", () => {
  it("count as steps, count down the remaining header, and the 3rd with max_steps 2 is refused before the provider", async () => {
    const tenant = await createTenant({ policy: { sessions: { max_steps: 2 } } });
    const first = await embed(tenant.key, "first chunk to index", "s-embed");
    expect(first.status).toBe(200);
    expect(first.headers.get("x-tollgate-session-remaining")).toContain("steps=1");
    expect((await embed(tenant.key, "second chunk to index", "s-embed")).status).toBe(200);
    const refused = await embed(tenant.key, "third chunk to index", "s-embed");
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({ error: { code: "session_limit_exceeded", param: "max_steps" } });
    const row = await ledgerRow<{ attempts: number; session_id: string; cost_usd: number }>(refused.headers.get("x-request-id") ?? "");
    expect(row).toMatchObject({ attempts: 0, session_id: "s-embed", cost_usd: 0 });
  });

  it("the loop guard sees the same input repeated", async () => {
    const tenant = await createTenant({ policy: { sessions: { loop_repeat_limit: 2 } } });
    for (let i = 0; i < 2; i++) expect((await embed(tenant.key, "the same text again", "s-loop")).status).toBe(200);
    const looped = await embed(tenant.key, "the same text again", "s-loop");
    expect(looped.status).toBe(403);
    expect(await looped.json()).toMatchObject({ error: { code: "loop_detected" } });
  });
});

describe("queued work in an agent session", () => {
  it("each job attempt is a step: past max_steps the job fails with session_limit_exceeded, unbilled", async () => {
    const tenant = await createTenant({ policy: { sessions: { max_steps: 1 } } });
    const headers = { "x-tollgate-session": "s-jobs" };
    const first = await postJob(tenant.key, { request: chatBody("First step of the plan"), priority: "interactive" }, headers);
    expect((await waitForJob(tenant.key, first.id)).status).toBe("succeeded");
    const second = await postJob(tenant.key, { request: chatBody("Second step of the plan"), priority: "interactive" }, headers);
    const done = await waitForJob(tenant.key, second.id);
    expect(done).toMatchObject({ status: "failed", error: { code: "session_limit_exceeded" } });
    const row = await ledgerRow<{ session_id: string; cost_usd: number }>(`${second.id}.1`);
    expect(row).toMatchObject({ session_id: "s-jobs", cost_usd: 0 });
    const bad = await call("/v1/jobs", { method: "POST", headers: { authorization: `Bearer ${tenant.key}`, "content-type": "application/json", "x-tollgate-session": "no spaces allowed" }, body: JSON.stringify({ request: chatBody("x") }) });
    expect(bad.status).toBe(400);
  });
});
