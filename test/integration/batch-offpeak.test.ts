import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { createTenant } from "../fixtures/gateway";
import { chatBody, runCron, tenantCall, waitFor } from "../fixtures/jobs-fixtures";

type BatchView = {
  id: string;
  status: string;
  release_reason: string | null;
  release_by: number;
  request_counts: Record<string, number>;
  cost_usd: number;
  finished_at: number | null;
};

// The window the tests' tenants use: 02:00-04:00 UTC. Cron times are explicit, and submission times injected.
const WINDOW = { policy: { off_peak: { start_hour: 2, end_hour: 4 } } };
const utc = (hour: number, dayOffset = 1) => {
  const d = new Date();
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + dayOffset, hour, 0));
};

async function postBatch(key: string, body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<BatchView> {
  const res = await tenantCall(key, "/v1/batches", "POST", body, headers);
  if (res.status !== 202) throw new Error(`POST /v1/batches: ${res.status} ${await res.text()}`);
  return res.json<BatchView>();
}

const getBatch = async (key: string, id: string) => (await tenantCall(key, `/v1/batches/${id}`)).json<BatchView>();
const waitForBatch = (key: string, id: string, status: string) =>
  waitFor(async () => {
    const batch = await getBatch(key, id);
    return batch.status === status ? batch : null;
  }, `batch ${id} to be ${status}`);

const requests = (n: number, model = "sim/powerful") => Array.from({ length: n }, (_, i) => ({ custom_id: `item-${i}`, body: chatBody(`Question number ${i}`, model) }));

/**
 * The submission's clock, injected: an instant outside WINDOW (02:00-04:00 UTC), close to the real time
 * so deadlines derived from it stay sensible. Only Date is faked, and only while the batch is submitted,
 * so "deferred or released now" is decided on this instant whatever hour the suite runs at.
 */
function outsideWindow(): number {
  const now = Date.now();
  const hour = new Date(now).getUTCHours();
  return hour >= WINDOW.policy.off_peak.start_hour && hour < WINDOW.policy.off_peak.end_hour ? now + 2 * 3600_000 : now;
}

async function postBatchAt(at: number, key: string, body: Record<string, unknown>): Promise<BatchView> {
  vi.useFakeTimers({ toFake: ["Date"], now: at });
  try {
    return await postBatch(key, body);
  } finally {
    vi.useRealTimers();
  }
}

describe("off-peak batches", () => {
  it("deferred until the window: cron outside it holds them, cron inside it releases them; results are JSONL per custom_id", async () => {
    const tenant = await createTenant(WINDOW);
    const batch = await postBatchAt(outsideWindow(), tenant.key, { requests: requests(3), completion_window: "24h", off_peak: true });
    expect(batch).toMatchObject({ status: "deferred", request_counts: { total: 3, deferred: 3 } });
    const policy = (await env.DB.prepare("SELECT policy_json FROM tenants WHERE id = ?").bind(tenant.id).first<{ policy_json: string }>())?.policy_json ?? "{}";
    const { start_hour } = JSON.parse(policy).off_peak as { start_hour: number };

    await runCron(utcBefore(batch.release_by, (start_hour + 12) % 24));
    expect((await getBatch(tenant.key, batch.id)).status).toBe("deferred");
    const items = await env.DB.prepare("SELECT status FROM jobs WHERE batch_id = ?").bind(batch.id).all<{ status: string }>();
    expect(items.results.map((r) => r.status)).toEqual(["deferred", "deferred", "deferred"]);

    await runCron(utcBefore(batch.release_by, start_hour));
    const released = await getBatch(tenant.key, batch.id);
    expect(released.release_reason).toBe("off_peak_window");
    const done = await waitForBatch(tenant.key, batch.id, "completed");
    expect(done.request_counts).toMatchObject({ total: 3, succeeded: 3, completed: 3 });
    expect(done.cost_usd).toBeGreaterThan(0);
    expect(done.finished_at).not.toBeNull();

    const res = await tenantCall(tenant.key, `/v1/batches/${batch.id}/results`);
    expect(res.headers.get("content-type")).toMatch(/jsonl/);
    const lines = (await jsonl(res)).split("\n").map((l) => JSON.parse(l) as { custom_id: string; status: string; response: { status_code: number; body: { choices: { message: { content: string } }[] }; routing: { tier: string } }; cost_usd: number });
    expect(lines.map((l) => l.custom_id)).toEqual(["item-0", "item-1", "item-2"]);
    for (const [i, line] of lines.entries()) {
      expect(line.status).toBe("succeeded");
      expect(line.response.status_code).toBe(200);
      expect(line.response.body.choices[0]?.message.content).toContain(`Question number ${i}`);
      // Batch items run at the cheapest tier the policy allows, whatever model they named.
      expect(line.response.routing.tier).toBe("fast");
    }
    expect(lines.reduce((sum, l) => sum + l.cost_usd, 0)).toBeCloseTo(done.cost_usd, 12);
    const ledger = await waitFor(async () => {
      const row = await env.DB.prepare("SELECT COUNT(*) AS n, SUM(cost_usd) AS cost FROM ledger WHERE endpoint = '/v1/batches' AND tenant_id = ?").bind(tenant.id).first<{ n: number; cost: number }>();
      return row && row.n === 3 ? row : null;
    }, "three batch ledger rows");
    expect(ledger.cost).toBeCloseTo(done.cost_usd, 12);
  });

  it("the completion window forces a release outside the window", async () => {
    const tenant = await createTenant(WINDOW);
    const batch = await postBatchAt(outsideWindow(), tenant.key, { requests: requests(2), completion_window: "1h", off_peak: true });
    expect(batch.status).toBe("deferred");
    expect(batch.release_by).toBe(JSON.parse(JSON.stringify(batch)).created_at + 40 * 60_000);
    await runCron(new Date(batch.release_by - 60_000));
    expect((await getBatch(tenant.key, batch.id)).status).toBe("deferred");
    await runCron(new Date(batch.release_by + 1));
    expect((await getBatch(tenant.key, batch.id)).release_reason).toBe("deadline");
    await waitForBatch(tenant.key, batch.id, "completed");
  });

  it("off_peak: false runs at once; inside the window it runs at once too", async () => {
    const tenant = await createTenant(WINDOW);
    const now = await postBatchAt(outsideWindow(), tenant.key, { requests: requests(2), off_peak: false });
    expect(now.release_reason).toBe("immediate");
    await waitForBatch(tenant.key, now.id, "completed");

    const allDay = await createTenant({ policy: { off_peak: { start_hour: 0, end_hour: 24 } } });
    const inside = await postBatch(allDay.key, { requests: requests(1) });
    expect(inside.release_reason).toBe("off_peak_window");
    await waitForBatch(allDay.key, inside.id, "completed");
  });

  it("cancels what has not started, and says so in the results", async () => {
    const tenant = await createTenant(WINDOW);
    const batch = await postBatchAt(outsideWindow(), tenant.key, { requests: requests(2) });
    const res = await tenantCall(tenant.key, `/v1/batches/${batch.id}/cancel`, "POST");
    expect(await res.json()).toMatchObject({ status: "cancelled", request_counts: { cancelled: 2, completed: 2 } });
    await runCron(utc(3));
    expect((await getBatch(tenant.key, batch.id)).status).toBe("cancelled");
    const lines = (await jsonl(await tenantCall(tenant.key, `/v1/batches/${batch.id}/results`))).split("\n").map((l) => JSON.parse(l));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ custom_id: "item-0", status: "cancelled", response: null, error: { code: "cancelled" } });
  });

  it("gives clear errors: size limit, duplicate custom_id, bad window, streaming items, bad item fields", async () => {
    const tenant = await createTenant(WINDOW);
    const tooMany = await tenantCall(tenant.key, "/v1/batches", "POST", { requests: Array.from({ length: 1001 }, (_, i) => ({ custom_id: `c${i}`, body: chatBody("x") })) });
    expect(tooMany.status).toBe(400);
    expect(await tooMany.json()).toMatchObject({ error: { param: "requests", message: expect.stringMatching(/at most 1000 requests \(got 1001\)/) } });
    const cases: [unknown, string][] = [
      [{ requests: [{ custom_id: "a", body: chatBody("x") }, { custom_id: "a", body: chatBody("y") }] }, "requests[1].custom_id"],
      [{ requests: requests(1), completion_window: "2d" }, "completion_window"],
      [{ requests: [{ custom_id: "a", body: { ...chatBody("x"), stream: true } }] }, "requests[0].body.stream"],
      [{ requests: [{ custom_id: "a", body: { model: "sim/fast", messages: [] } }] }, "requests[0].body.messages"],
      [{ requests: [] }, "requests"],
    ];
    for (const [body, param] of cases) {
      const res = await tenantCall(tenant.key, "/v1/batches", "POST", body);
      expect(res.status, param).toBe(400);
      expect(((await res.json()) as { error: { param: string } }).error.param).toBe(param);
    }
  });

  it("another tenant's batch and its results are 404", async () => {
    const owner = await createTenant(WINDOW);
    const stranger = await createTenant(WINDOW);
    const batch = await postBatch(owner.key, { requests: requests(1) });
    for (const [path, method] of [[`/v1/batches/${batch.id}`, "GET"], [`/v1/batches/${batch.id}/results`, "GET"], [`/v1/batches/${batch.id}/cancel`, "POST"]] as const) {
      const res = await tenantCall(stranger.key, path, method);
      expect(res.status, path).toBe(404);
      expect(await res.json()).toMatchObject({ error: { code: "not_found" } });
    }
  });
});

const jsonl = async (res: Response) => new TextDecoder().decode(await res.arrayBuffer()).trim();

/** A time at `hour` UTC on a day before `limit` (the forced-release instant), so only the window decides. */
function utcBefore(limit: number, hour: number): Date {
  for (let day = 0; day < 2; day++) {
    const candidate = utc(hour, day);
    if (candidate.getTime() > Date.now() && candidate.getTime() < limit) return candidate;
  }
  return utc(hour, 0);
}
