import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { submitJob } from "../../src/jobs/job-submission";
import { verifyWebhook } from "../../src/auth/webhook-signature";
import { breakerStub, forgetBreakerView } from "../../src/routing/breaker-gate";
import { createTenant, ledgerRow } from "../fixtures/gateway";
import { chatBody, deliver, getJobView, insertQueuedJob, jobRow, ledgerRowsFor, postJob, QUEUE, runCron, tenantCall, waitFor, waitForJob } from "../fixtures/jobs-fixtures";

afterEach(() => vi.restoreAllMocks());

const OWN_MODEL = "sim-private/balanced";
/** Closes the breaker of OWN_MODEL only (the durable state and this isolate's copy of it). */
async function closeOwnBreaker(): Promise<void> {
  const key = "sim-private:balanced";
  await breakerStub(env, key).reset(key);
  forgetBreakerView();
}

describe("jobs API", () => {
  it("queued → running → succeeded: status, attempts, result and cost, with one ledger row", async () => {
    const tenant = await createTenant();
    const accepted = await postJob(tenant.key, { request: chatBody("Summarise toll roads"), priority: "interactive" }, { "x-tollgate-task": "summaries" });
    expect(accepted).toMatchObject({ object: "job", priority: "interactive", url: `/v1/jobs/${accepted.id}` });
    expect(["queued", "running", "succeeded"]).toContain(accepted.status);

    const done = await waitForJob(tenant.key, accepted.id);
    expect(done).toMatchObject({ status: "succeeded", attempts: 1, error: null, routing: { tier: "fast", model: "sim/fast" } });
    expect(JSON.stringify(done.result)).toContain("Summarise toll roads");
    expect(done.cost_usd).toBeGreaterThan(0);
    expect(done.finished_at).toBeGreaterThanOrEqual(done.started_at ?? Infinity);

    const row = await ledgerRow<{ cost_usd: number; tenant_id: string; key_id: string; endpoint: string; task: string; status: number }>(`${accepted.id}.1`);
    expect(row).toMatchObject({ tenant_id: tenant.id, key_id: tenant.keyId, endpoint: "/v1/jobs", task: "summaries", status: 200 });
    expect(row.cost_usd).toBeCloseTo(done.cost_usd, 12);
  });

  it("defaults to the standard lane, takes the lane from x-tollgate-priority, and validates the body", async () => {
    const tenant = await createTenant();
    expect((await postJob(tenant.key, { request: chatBody("a") })).priority).toBe("standard");
    expect((await postJob(tenant.key, { request: chatBody("b") }, { "x-tollgate-priority": "batch" })).priority).toBe("batch");
    const streaming = await tenantCall(tenant.key, "/v1/jobs", "POST", { request: { ...chatBody("c"), stream: true } });
    expect(streaming.status).toBe(400);
    expect(await streaming.json()).toMatchObject({ error: { code: "invalid_request", param: "request.stream" } });
    const unknownModel = await tenantCall(tenant.key, "/v1/jobs", "POST", { request: chatBody("d", "nope/model") });
    expect(await unknownModel.json()).toMatchObject({ error: { param: "request.model" } });
    const extra = await tenantCall(tenant.key, "/v1/jobs", "POST", { request: chatBody("e"), colour: "red" });
    expect(extra.status).toBe(400);
  });

  it("honours Idempotency-Key: same body → same job, different body → 409", async () => {
    const tenant = await createTenant();
    const headers = { "idempotency-key": "order-42" };
    const first = await tenantCall(tenant.key, "/v1/jobs", "POST", { request: chatBody("once") }, headers);
    const again = await tenantCall(tenant.key, "/v1/jobs", "POST", { request: chatBody("once") }, headers);
    expect(first.status).toBe(202);
    expect(again.status).toBe(202);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    const [a, b] = [await first.json<{ id: string }>(), await again.json<{ id: string }>()];
    expect(b.id).toBe(a.id);
    const other = await tenantCall(tenant.key, "/v1/jobs", "POST", { request: chatBody("twice") }, headers);
    expect(other.status).toBe(409);
    expect(await other.json()).toMatchObject({ error: { code: "idempotency_conflict" } });
    const count = await env.DB.prepare("SELECT COUNT(*) AS n FROM jobs WHERE tenant_id = ?").bind(tenant.id).first<{ n: number }>();
    expect(count?.n).toBe(1);
  });

  it("queued → cancelled by DELETE; a later delivery of its message does nothing; running jobs cannot be cancelled", async () => {
    const tenant = await createTenant();
    const message = await insertQueuedJob(tenant.id, "never runs");
    const res = await tenantCall(tenant.key, `/v1/jobs/${message.job_id}`, "DELETE");
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: "cancelled" });
    const result = await deliver(QUEUE.interactive, [message]);
    expect(result.explicitAcks).toHaveLength(1);
    expect((await jobRow(message.job_id)).attempts).toBe(0);
    expect(await ledgerRowsFor(message.job_id)).toEqual([]);

    const finished = await waitForJob(tenant.key, (await postJob(tenant.key, { request: chatBody("quick"), priority: "interactive" })).id);
    const late = await tenantCall(tenant.key, `/v1/jobs/${finished.id}`, "DELETE");
    expect(late.status).toBe(409);
    expect(await late.json()).toMatchObject({ error: { message: expect.stringMatching(/succeeded/) } });
  });

  it("another tenant's job is a 404 for GET and DELETE", async () => {
    const owner = await createTenant();
    const stranger = await createTenant();
    const job = await postJob(owner.key, { request: chatBody("mine") });
    expect((await tenantCall(stranger.key, `/v1/jobs/${job.id}`)).status).toBe(404);
    expect((await tenantCall(stranger.key, `/v1/jobs/${job.id}`, "DELETE")).status).toBe(404);
    const list = await (await tenantCall(stranger.key, "/v1/jobs")).json<{ data: unknown[] }>();
    expect(list.data).toEqual([]);
    // A forged message naming the wrong tenant is ignored too.
    const forged = await insertQueuedJob(owner.id, "forged");
    await deliver(QUEUE.interactive, [{ ...forged, tenant_id: stranger.id }]);
    expect((await jobRow(forged.job_id)).status).toBe("queued");
  });
});

describe("job execution (queue consumer)", () => {
  it("retryable failure: running → queued with a retry delay; retries exhausted → dead and dead-lettered", async () => {
    // A chain of one model that no other test uses: this test's failures open only its own breaker.
    const tenant = await createTenant({ policy: { allowed_models: [OWN_MODEL] } });
    const message = await insertQueuedJob(tenant.id, "always failing", { hints: { simFault: "500" }, model: OWN_MODEL });

    for (const attempt of [1, 2, 3]) {
      // Each delivery fails three times; by the second the model's breaker is open and the error would
      // become no_healthy_provider, which is right but is the breaker's story (timeouts-breakers.test.ts),
      // not the job's retry schedule. Closing this test's own breaker hides nothing from other tests.
      await closeOwnBreaker();
      const result = await deliver(QUEUE.interactive, [message], attempt);
      expect(result.retryMessages).toHaveLength(1);
      expect(result.retried.map((r) => r.delaySeconds)).toEqual([2 ** (attempt - 1)]);
      const row = await jobRow(message.job_id);
      expect(row).toMatchObject({ status: "queued", attempts: attempt, lease_until: null });
      expect(JSON.parse(row.error_json ?? "{}")).toMatchObject({ code: "upstream_error" });
    }
    await closeOwnBreaker();
    const last = await deliver(QUEUE.interactive, [message], 4);
    expect(last.explicitAcks).toHaveLength(1);
    expect(last.retryMessages).toHaveLength(0);
    expect((await jobRow(message.job_id)).status).toBe("dead");

    // The consumer sent it to the dead-letter queue, whose consumer keeps it with the reason.
    const letter = await waitFor(
      () => env.DB.prepare("SELECT * FROM dead_letters WHERE body_json LIKE ?").bind(`%${message.job_id}%`).first<{ queue: string; reason: string; attempts: number; tenant_id: string }>(),
      "the dead letter",
    );
    expect(letter).toMatchObject({ queue: "jobs-interactive", attempts: 4, tenant_id: tenant.id });
    expect(letter.reason).toMatch(/Retries exhausted after 4 attempt\(s\).*upstream_error/);
    const view = await getJobView(tenant.key, message.job_id);
    expect(view).toMatchObject({ status: "dead", attempts: 4, error: { code: "upstream_error" }, cost_usd: 0 });
    const ledger = await waitFor(async () => {
      const rows = await ledgerRowsFor(message.job_id);
      return rows.length === 4 ? rows : null;
    }, "four ledger rows");
    expect(ledger.map((r) => r.status)).toEqual([502, 502, 502, 502]);
  });

  it("a non-retryable failure ends the job as failed at once", async () => {
    const tenant = await createTenant({ policy: { allowed_models: ["sim/balanced"] } });
    const message = await insertQueuedJob(tenant.id, "not allowed");
    const result = await deliver(QUEUE.interactive, [message]);
    expect(result.explicitAcks).toHaveLength(1);
    expect(await getJobView(tenant.key, message.job_id)).toMatchObject({ status: "failed", attempts: 1, error: { code: "invalid_request", status: 400 } });
  });

  it("redelivery is idempotent: after success, and mid-run, the job runs once and is billed once", async () => {
    const tenant = await createTenant();
    const message = await insertQueuedJob(tenant.id, "run me once");
    await deliver(QUEUE.interactive, [message]);
    const first = await getJobView(tenant.key, message.job_id);
    expect(first).toMatchObject({ status: "succeeded", attempts: 1 });
    const again = await deliver(QUEUE.interactive, [message, message], 2);
    expect(again.explicitAcks).toHaveLength(2);
    expect(await getJobView(tenant.key, message.job_id)).toEqual(first);
    await ledgerRow(`${message.job_id}.1`);
    expect((await ledgerRowsFor(message.job_id)).length).toBe(1);

    // Mid-run: another consumer holds a live claim; the redelivered message is acked and changes nothing.
    const busy = await insertQueuedJob(tenant.id, "busy elsewhere");
    await env.DB.prepare("UPDATE jobs SET status = 'running', attempts = 1, lease_until = ? WHERE id = ?").bind(Date.now() + 60_000, busy.job_id).run();
    const during = await deliver(QUEUE.interactive, [busy], 2);
    expect(during.explicitAcks).toHaveLength(1);
    expect(await jobRow(busy.job_id)).toMatchObject({ status: "running", attempts: 1 });
    expect(await ledgerRowsFor(busy.job_id)).toEqual([]);
  });

  it("deadline: passed while waiting → failed without a call; reached during the call → failed with deadline_exceeded", async () => {
    const tenant = await createTenant();
    const waited = await insertQueuedJob(tenant.id, "too late", { deadlineAt: Date.now() - 1 });
    await deliver(QUEUE.interactive, [waited]);
    expect(await getJobView(tenant.key, waited.job_id)).toMatchObject({ status: "failed", attempts: 0, error: { code: "deadline_exceeded" } });

    const hung = await postJob(tenant.key, { request: chatBody("hangs"), priority: "interactive", deadline_s: 1 }, { "x-tollgate-sim-fault": "timeout" });
    const done = await waitForJob(tenant.key, hung.id);
    expect(done).toMatchObject({ status: "failed", attempts: 1, error: { code: "deadline_exceeded", message: expect.stringMatching(/deadline passed/) } });
    expect((done.finished_at ?? 0) - done.created_at).toBeLessThan(5_000);
  });

  it("cron sweep: a job stuck in running past its lease is retried; out of attempts it fails", async () => {
    const tenant = await createTenant();
    const stuck = await insertQueuedJob(tenant.id, "consumer crashed");
    const past = Date.now() - 1;
    await env.DB.prepare("UPDATE jobs SET status = 'running', attempts = 1, lease_until = ? WHERE id = ?").bind(past, stuck.job_id).run();
    const hopeless = await insertQueuedJob(tenant.id, "crashed every time");
    await env.DB.prepare("UPDATE jobs SET status = 'running', attempts = max_attempts, lease_until = ? WHERE id = ?").bind(past, hopeless.job_id).run();
    const unsent = await insertQueuedJob(tenant.id, "send failed at submission");
    await env.DB.prepare("UPDATE jobs SET enqueued_at = NULL WHERE id = ?").bind(unsent.job_id).run();

    await runCron(new Date());
    // Re-enqueued onto the real lane, where the consumer finishes them.
    expect(await waitForJob(tenant.key, stuck.job_id)).toMatchObject({ status: "succeeded", attempts: 2 });
    expect(await waitForJob(tenant.key, unsent.job_id)).toMatchObject({ status: "succeeded", attempts: 1 });
    expect(await getJobView(tenant.key, hopeless.job_id)).toMatchObject({ status: "failed", error: { code: "deadline_exceeded", message: expect.stringMatching(/stuck/) } });
  });
});

describe("callbacks", () => {
  it("POSTs the finished job, HMAC-signed, to callback_url, retrying a failed delivery from the sweep", async () => {
    const tenant = await createTenant();
    const received: { url: string; body: string; headers: Headers }[] = [];
    let failNext = true;
    const realFetch = globalThis.fetch;
    vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
      const url = input instanceof Request ? input.url : String(input);
      if (!url.startsWith("https://hooks.example.test/")) return realFetch(input, init);
      received.push({ url, body: String(init?.body), headers: new Headers(init?.headers) });
      if (failNext) {
        failNext = false;
        return new Response("down", { status: 503 });
      }
      return new Response("ok");
    });
    const job = await postJob(tenant.key, { request: chatBody("call me back"), priority: "interactive", callback_url: "https://hooks.example.test/tollgate" });
    await waitForJob(tenant.key, job.id, (j) => j.status === "succeeded" && j.callback?.attempts === 1 && j.callback.state === "pending");
    await runCron(new Date(Date.now() + 5 * 60_000));
    const delivered = await waitForJob(tenant.key, job.id, (j) => j.callback?.state === "delivered");
    expect(delivered.callback).toMatchObject({ url: "https://hooks.example.test/tollgate", attempts: 2, error: null });

    expect(received).toHaveLength(2);
    const last = received[1];
    if (!last) throw new Error("no delivery");
    const payload = JSON.parse(last.body) as { type: string; job: { id: string; status: string; cost_usd: number } };
    expect(payload).toMatchObject({ type: "job.completed", job: { id: job.id, status: "succeeded" } });
    expect(payload.job.cost_usd).toBeGreaterThan(0);
    expect(last.headers.get("x-tollgate-delivery")).toBe(`${job.id}:2`);
    const signature = last.headers.get("x-tollgate-signature") ?? "";
    expect(await verifyWebhook("test-webhook-secret", last.body, signature, Math.floor(Date.now() / 1000) + 300)).toBe(true);
  });

  it("refuses private and metadata callback URLs in staging and production (SSRF)", async () => {
    const tenant = await createTenant();
    const base = { tenant: { tenantId: tenant.id, tenantName: "t", keyId: tenant.keyId, policy: { off_peak: { start_hour: 0, end_hour: 6 } }, limits: {} } } as unknown as Parameters<typeof submitJob>[1];
    for (const environment of ["staging", "production"]) {
      for (const url of ["https://169.254.169.254/latest/meta-data/", "https://10.0.0.8/hook", "https://localhost/hook", "http://hooks.example.com/hook"]) {
        await expect(submitJob({ ...env, ENVIRONMENT: environment }, { ...base, body: { request: chatBody("x"), callback_url: url }, hints: { task: "default", cache: "default" } })).rejects.toMatchObject({
          status: 400,
          param: "callback_url",
        });
      }
    }
    const res = await tenantCall(tenant.key, "/v1/jobs", "POST", { request: chatBody("x"), callback_url: "gopher://x" });
    expect(await res.json()).toMatchObject({ error: { param: "callback_url" } });
  });
});
