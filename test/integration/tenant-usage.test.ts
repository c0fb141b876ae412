import { describe, expect, it } from "vitest";
import { call, chat, createTenant, hello, ledgerRow } from "../fixtures/gateway";

describe("GET /v1/usage and /v1/budget", () => {
  it("reports this tenant's spend by task and model from the ledger, and its live budgets", async () => {
    const tenant = await createTenant({ budgets: [{ scope: "tenant", period: "month", limit_usd: 5 }] });
    const other = await createTenant();
    const ids: string[] = [];
    for (const [task, model] of [["support", "sim/fast"], ["support", "sim/fast"], ["research", "sim/powerful"]] as const) {
      const res = await chat(tenant.key, hello(`${task} question ${ids.length}`, model), { "x-tollgate-task": task, "x-tollgate-cache": "no-store" });
      ids.push(res.headers.get("x-request-id") ?? "");
    }
    await chat(other.key, hello("not yours"), { "x-tollgate-task": "support" });
    const rows = await Promise.all(ids.map((id) => ledgerRow<{ cost_usd: number }>(id)));
    const auth = { authorization: `Bearer ${tenant.key}` };

    const byTask = await (await call("/v1/usage?group_by=task", { headers: auth })).json<{ data: { task: string; requests: number; cost_usd: number }[] }>();
    expect(byTask.data.map((d) => [d.task, d.requests])).toEqual([["research", 1], ["support", 2]]);
    const total = byTask.data.reduce((sum, d) => sum + d.cost_usd, 0);
    expect(total).toBeCloseTo(rows.reduce((sum, r) => sum + r.cost_usd, 0), 12);
    const byModel = await (await call("/v1/usage?group_by=model", { headers: auth })).json<{ data: { model: string }[] }>();
    expect(byModel.data.map((d) => d.model)).toEqual(["sim/fast", "sim/powerful"]);
    const bad = await call("/v1/usage?group_by=tenant", { headers: auth });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { param: "group_by" } });

    const budget = await (await call("/v1/budget", { headers: auth })).json<{ data: { scope: string; period: string; limit_usd: number; spent_usd: number; remaining_usd: number; state: string; resets_at: string }[] }>();
    expect(budget.data).toHaveLength(1);
    expect(budget.data[0]).toMatchObject({ scope: "tenant", period: "month", limit_usd: 5, state: "ok" });
    expect(budget.data[0]?.resets_at).toMatch(/^\d{4}-\d{2}-01T00:00:00.000Z$/);
  });
});
