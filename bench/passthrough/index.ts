// The reference row of the overhead bench: the least a Hono Worker can do in front of the same mock
// upstream (no auth, budget, cache or ledger), on the same `wrangler dev` and workerd as Tollgate.
import { Hono } from "hono";

const app = new Hono<{ Bindings: { UPSTREAM_URL: string } }>();

app.get("/health", (c) => c.text("ok"));
app.post("/v1/chat/completions", (c) =>
  fetch(`${c.env.UPSTREAM_URL}/v1/chat/completions`, { method: "POST", headers: c.req.raw.headers, body: c.req.raw.body }),
);

export default app;
