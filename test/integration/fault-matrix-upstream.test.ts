import { env } from "cloudflare:workers";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_CATALOG, findModel, priceUsd } from "../../src/config/model-catalog";
import { countPromptTokens, countText } from "../../src/tokens/count-tokens";
import { admin, call, chat, type TestTenant } from "../fixtures/gateway";
import { budgetedTenant, settledSpend, tenantLedger, timed } from "../fixtures/fault-fixtures";

/**
 * The fault matrix for the request path. Every provider fault the sim can inject, on the first provider
 * only (Tollgate must recover) and on every provider (it must fail cleanly), streaming and not. For
 * each cell the same three promises are checked:
 *   - nothing hangs: the client has its whole answer within the deadline plus a margin;
 *   - nothing is lost: exactly one ledger row for the request, with the status the client saw;
 *   - nothing is billed twice: the budget object's settled spend equals the ledger's cost, and no
 *     reservation is left behind.
 */
interface Cell {
  name: string;
  fault: string;
  stream?: boolean;
  /** x-tollgate-deadline-ms; the bound on the whole request is this plus MARGIN_MS. */
  deadlineMs: number;
  http: number;
  /** Status in the ledger row: a stream cut after the first byte is a 200 on the wire but a 502 in the books. */
  ledger: number;
  provider?: string;
  errorCode?: string;
  /** The sim's latency scale for the cell (the suite runs it at 0, i.e. instant). */
  latencyScale?: string;
}

const MARGIN_MS = 3_000;
// Short per-attempt timeouts, so that a hung first provider gives way to the next well inside a test.
const POLICY = { timeouts: { attempt_ms: 300, first_token_ms: 300, idle_ms: 300 } };

const CELLS: Cell[] = [
  { name: "500 on the first provider → fallback", fault: "500;provider=sim-a", deadlineMs: 10_000, http: 200, ledger: 200, provider: "sim-b" },
  { name: "500 everywhere → 502", fault: "500", deadlineMs: 10_000, http: 502, ledger: 502, errorCode: "upstream_error" },
  { name: "429 on the first provider → fallback", fault: "429;retry_after=0;provider=sim-a", deadlineMs: 10_000, http: 200, ledger: 200, provider: "sim-b" },
  { name: "429 everywhere → 502", fault: "429;retry_after=0", deadlineMs: 10_000, http: 502, ledger: 502, errorCode: "upstream_error" },
  { name: "timeout on the first provider → fallback", fault: "timeout;provider=sim-a", deadlineMs: 10_000, http: 200, ledger: 200, provider: "sim-b" },
  { name: "timeout everywhere → 504 at the deadline", fault: "timeout", deadlineMs: 800, http: 504, ledger: 504, errorCode: "deadline_exceeded" },
  { name: "malformed JSON on the first provider → fallback", fault: "malformed;provider=sim-a", deadlineMs: 10_000, http: 200, ledger: 200, provider: "sim-b" },
  { name: "malformed JSON everywhere → 502", fault: "malformed", deadlineMs: 10_000, http: 502, ledger: 502, errorCode: "upstream_error" },
  { name: "body cut on the first provider → fallback", fault: "cut;provider=sim-a", deadlineMs: 10_000, http: 200, ledger: 200, provider: "sim-b" },
  { name: "stream: 500 on the first provider → fallback before the first byte", fault: "500;provider=sim-a", stream: true, deadlineMs: 10_000, http: 200, ledger: 200, provider: "sim-b" },
  { name: "stream: malformed chunk everywhere → an error event, billed for what was delivered", fault: "malformed", stream: true, deadlineMs: 10_000, http: 200, ledger: 502 },
  { name: "stream: cut midway → an error event, billed for what was delivered", fault: "cut", stream: true, deadlineMs: 10_000, http: 200, ledger: 502 },
  { name: "stream: timeout everywhere → 504 before the first byte", fault: "timeout", stream: true, deadlineMs: 800, http: 504, ledger: 504, errorCode: "deadline_exceeded" },
  { name: "slow upstream past the deadline → 504", fault: "slow", deadlineMs: 500, http: 504, ledger: 504, errorCode: "deadline_exceeded", latencyScale: "1" },
  { name: "slow upstream within the deadline → 200", fault: "slow;provider=sim-a", deadlineMs: 20_000, http: 200, ledger: 200, provider: "sim-a", latencyScale: "0.05" },
];

const mutableEnv = env as { SIM_LATENCY_SCALE: string };
const defaultScale = mutableEnv.SIM_LATENCY_SCALE;

afterEach(() => {
  mutableEnv.SIM_LATENCY_SCALE = defaultScale;
});

interface Outcome {
  tenant: TestTenant;
  status: number;
  text: string;
  ms: number;
  provider: string | null;
  model: string | null;
  requestId: string;
  body: ChatBody;
}

type ChatBody = { model: string; max_tokens: number; messages: { role: "user"; content: string }[]; stream?: boolean };

/** The text a client actually received on an SSE stream: every content delta, in order, up to the break. */
function deliveredText(sse: string): string {
  let text = "";
  for (const event of sse.split("\n\n")) {
    if (!event.startsWith("data: ") || event === "data: [DONE]") continue;
    const data = JSON.parse(event.slice(6)) as { choices?: { delta?: { content?: string } }[] };
    for (const choice of data.choices ?? []) text += choice.delta?.content ?? "";
  }
  return text;
}

/**
 * One cell: its own tenant (so its books are its own), a clean breaker, the fault, the whole answer read.
 * The reset is what the matrix is about: each cell is one fault against a healthy fleet, and the cells
 * share sim-a:fast and sim-b:fast, so without it a cell would meet the breakers the cell before opened.
 * (Breakers opening under repeated faults are timeouts-breakers.test.ts's subject.)
 */
async function runCell(cell: Cell): Promise<Outcome> {
  await admin("/admin/breakers", "DELETE");
  mutableEnv.SIM_LATENCY_SCALE = cell.latencyScale ?? defaultScale;
  try {
    const tenant = await budgetedTenant();
    await admin(`/admin/tenants/${tenant.id}/policy`, "PUT", POLICY);
    const body: ChatBody = {
      model: "sim/fast",
      max_tokens: 40,
      messages: [{ role: "user", content: `fault matrix: ${cell.name}, tell me about toll roads` }],
      ...(cell.stream ? { stream: true, stream_options: { include_usage: true } } : {}),
    };
    const headers = { "x-tollgate-sim-fault": cell.fault, "x-tollgate-deadline-ms": String(cell.deadlineMs), "x-tollgate-cache": "no-store" };
    const { res, text, ms } = await timed(() => chat(tenant.key, body, headers));
    return { tenant, status: res.status, text, ms, provider: res.headers.get("x-tollgate-provider"), model: res.headers.get("x-tollgate-model"), requestId: res.headers.get("x-request-id") ?? "", body };
  } finally {
    mutableEnv.SIM_LATENCY_SCALE = defaultScale;
  }
}

// Every cell runs first, one after another, so the ledger queue's batching delay is waited out once
// for all of them rather than once per cell; each test below then checks its own cell.
const outcomes = new Map<string, Outcome>();
beforeAll(async () => {
  for (const cell of CELLS) outcomes.set(cell.name, await runCell(cell));
}, 60_000);

async function checkBooks(tenant: TestTenant, requestId: string, ledgerStatus: number) {
  const rows = await tenantLedger(tenant.id, 1);
  // Exactly one row, for this request, with the outcome the books must show.
  expect(rows.map((r) => r.request_id)).toEqual([requestId]);
  const [row] = rows;
  expect(row?.status).toBe(ledgerStatus);
  // Budget spend and ledger cost are the same money counted in two places: equal means billed once.
  const spent = await settledSpend(tenant.key);
  expect(spent).toBeCloseTo(row?.cost_usd ?? -1, 10);
  return row;
}

describe("fault matrix: provider faults on the request path", () => {
  it.each(CELLS)("$name", async (cell) => {
    const outcome = outcomes.get(cell.name);
    if (!outcome) throw new Error(`cell ${cell.name} did not run`);
    const { tenant, status, text, ms, provider, requestId } = outcome;
    expect(status, text.slice(0, 300)).toBe(cell.http);
    expect(ms).toBeLessThan(cell.deadlineMs + MARGIN_MS);
    if (cell.errorCode) expect(JSON.parse(text)).toMatchObject({ error: { code: cell.errorCode } });
    if (cell.provider) expect(provider).toBe(cell.provider);
    if (cell.stream && cell.http === 200) {
      // A stream always ends: with [DONE] when it finished, with an error event when it broke.
      expect(cell.ledger === 200 ? text.trimEnd().endsWith("data: [DONE]") : /"code":"upstream_error"/.test(text)).toBe(true);
    }
    const row = await checkBooks(tenant, requestId, cell.ledger);
    if (cell.stream && cell.ledger === 502) {
      // What reached the client before the break is billed (the prompt, and the tokens of a cut), nothing
      // more: the expected bill is recomputed from the text the client received, with the gateway's tokenizer.
      expect(row?.error_code).toBe("upstream_error");
      const billed = findModel(DEFAULT_CATALOG, outcome.model ?? "");
      if (!billed) throw new Error(`no catalog model ${outcome.model}`);
      const delivered = deliveredText(text);
      const promptTokens = countPromptTokens(outcome.body);
      const completionTokens = countText(delivered);
      if (cell.fault === "cut") expect(completionTokens).toBeGreaterThan(0);
      expect(row).toMatchObject({ prompt_tokens: promptTokens, completion_tokens: completionTokens });
      expect(row?.cost_usd).toBeCloseTo(priceUsd(billed, promptTokens, completionTokens), 12);
    }
    if (cell.http >= 500) expect(row?.cost_usd).toBe(0);
  });

  // The same request in each API's own streaming shape.
  const walkAway: Record<string, (prompt: string) => Record<string, unknown>> = {
    "/v1/chat/completions": (prompt) => ({ model: "sim/balanced", stream: true, messages: [{ role: "user", content: prompt }] }),
    "/v1/messages": (prompt) => ({ model: "sim/balanced", stream: true, max_tokens: 256, messages: [{ role: "user", content: prompt }] }),
    "/v1/responses": (prompt) => ({ model: "sim/balanced", stream: true, input: prompt }),
  };
  it.each(Object.keys(walkAway))("a client that walks away mid-stream on %s still leaves one ledger row and no reservation", async (path) => {
    mutableEnv.SIM_LATENCY_SCALE = "0.2";
    const tenant = await budgetedTenant();
    const body = walkAway[path]?.("a long story about toll roads, please");
    const res = await call(path, { method: "POST", headers: { authorization: `Bearer ${tenant.key}`, "content-type": "application/json", "x-tollgate-cache": "no-store" }, body: JSON.stringify(body) });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    const reader = res.body?.getReader();
    const first = await reader?.read();
    expect(first?.done).toBe(false);
    await reader?.cancel();
    const rows = await tenantLedger(tenant.id, 1);
    expect(rows.map((r) => r.request_id)).toEqual([res.headers.get("x-request-id")]);
    expect(await settledSpend(tenant.key)).toBeCloseTo(rows[0]?.cost_usd ?? -1, 10);
  });
});
