// The reference rows of the overhead bench, on the same `wrangler dev` and workerd as Tollgate:
// - /v1/chat/completions: the least a Hono Worker can do in front of the same mock upstream (no auth,
//   budget, cache or ledger);
// - /v1/floor: a canned completion with no upstream call at all, the most any path that makes none (an
//   exact hit) could reach under this harness; /v1/floor-logged adds one console.log line the size of
//   Tollgate's request log, which wrangler dev carries to its own process and prints;
// - /v1/js-stream: the passthrough with the upstream's body piped through one JavaScript identity
//   TransformStream: what a stream costs once script touches it (as in any gateway that meters, caches
//   or filters one), with no other work; the runtime pipes the first route's body without any script.
import { Hono } from "hono";

const app = new Hono<{ Bindings: { UPSTREAM_URL: string } }>();

const COMPLETION = JSON.stringify({
  id: "chatcmpl-floor",
  object: "chat.completion",
  created: 1_764_460_800,
  model: "gpt-4o-mini",
  choices: [{ index: 0, message: { role: "assistant", content: "Toll roads pay for their own upkeep." }, finish_reason: "stop", logprobs: null }],
  usage: { prompt_tokens: 24, completion_tokens: 8, total_tokens: 32 },
});
const LOG_LINE = JSON.stringify({
  level: "info", msg: "request", id: "01KB0000000000000000000000", method: "POST", path: "/v1/chat/completions", status: 200, outcome: "ok",
  error_code: null, tenant: "ten_01KB0000000000000000000000", key: "key_01KB0000000000000000000000", stages: { auth: 0, validate: 0, cache: 1, total: 2 },
  ledger: { task: "default", tier: "fast", model: "openai/gpt-4o-mini", provider: "openai", cache: "exact", prompt_tokens: 24, completion_tokens: 8, cost_usd: 0, saved_usd: 0.0000084, latency_ms: 2, ttfb_ms: null, attempts: 0, escalated_from: null, degraded: null, stream: false },
});
const canned = () => new Response(COMPLETION, { headers: { "content-type": "application/json" } });

app.get("/health", (c) => c.text("ok"));
app.post("/v1/chat/completions", (c) =>
  fetch(`${c.env.UPSTREAM_URL}/v1/chat/completions`, { method: "POST", headers: c.req.raw.headers, body: c.req.raw.body }),
);
app.post("/v1/js-stream", async (c) => {
  const upstream = await fetch(`${c.env.UPSTREAM_URL}/v1/chat/completions`, { method: "POST", headers: c.req.raw.headers, body: c.req.raw.body });
  const identity = new TransformStream<Uint8Array, Uint8Array>({ transform: (chunk, controller) => controller.enqueue(chunk) });
  return new Response(upstream.body?.pipeThrough(identity) ?? null, upstream);
});
app.post("/v1/floor", canned);
app.post("/v1/floor-logged", () => {
  console.log(LOG_LINE);
  return canned();
});

export default app;
