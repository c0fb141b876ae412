import { describe, expect, it } from "vitest";
import { call, createTenant } from "../fixtures/gateway";

interface Case {
  name: string;
  path: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  auth?: "tenant" | "admin" | "none";
}

const JSON_TYPE = { "content-type": "application/json" };
const user = (content: unknown) => [{ role: "user", content }];
const deep = (n: number) => `${"[".repeat(n)}${"]".repeat(n)}`;

// A wide net of broken, hostile and odd inputs. Every one must be a 4xx in the OpenAI error shape.
function chatCases(): Case[] {
  const bodies: [string, unknown][] = [
    ["no model", { messages: user("hi") }],
    ["no messages", { model: "sim/fast" }],
    ["empty messages", { model: "sim/fast", messages: [] }],
    ["messages not array", { model: "sim/fast", messages: "hi" }],
    ["message not object", { model: "sim/fast", messages: [1] }],
    ["message empty object", { model: "sim/fast", messages: [{}] }],
    ["bad role", { model: "sim/fast", messages: [{ role: "robot", content: "x" }] }],
    ["content number", { model: "sim/fast", messages: user(5) }],
    ["content object", { model: "sim/fast", messages: user({ a: 1 }) }],
    ["content parts bad", { model: "sim/fast", messages: user([{ nope: 1 }]) }],
    ["model number", { model: 42, messages: user("x") }],
    ["model null", { model: null, messages: user("x") }],
    ["model empty", { model: "", messages: user("x") }],
    ["model array", { model: ["sim/fast"], messages: user("x") }],
    ["model huge", { model: "m".repeat(5000), messages: user("x") }],
    ["model unknown", { model: "gpt-17-ultra", messages: user("x") }],
    ["model unicode", { model: "模型/🚀", messages: user("x") }],
    ["model rtl", { model: "\u202eevil", messages: user("x") }],
    ["model nul", { model: "sim/fast\u0000", messages: user("x") }],
    ["temperature string", { model: "sim/fast", messages: user("x"), temperature: "hot" }],
    ["temperature negative", { model: "sim/fast", messages: user("x"), temperature: -1 }],
    ["temperature huge", { model: "sim/fast", messages: user("x"), temperature: 1e9 }],
    ["top_p > 1", { model: "sim/fast", messages: user("x"), top_p: 2 }],
    ["max_tokens zero", { model: "sim/fast", messages: user("x"), max_tokens: 0 }],
    ["max_tokens negative", { model: "sim/fast", messages: user("x"), max_tokens: -5 }],
    ["max_tokens float", { model: "sim/fast", messages: user("x"), max_tokens: 1.5 }],
    ["max_tokens string", { model: "sim/fast", messages: user("x"), max_tokens: "10" }],
    ["max_tokens huge", { model: "sim/fast", messages: user("x"), max_tokens: 1e12 }],
    ["n = 3", { model: "sim/fast", messages: user("x"), n: 3 }],
    ["stream string", { model: "sim/fast", messages: user("x"), stream: "yes" }],
    ["stream_options string", { model: "sim/fast", messages: user("x"), stream_options: "usage" }],
    ["stop too many", { model: "sim/fast", messages: user("x"), stop: ["a", "b", "c", "d", "e"] }],
    ["stop number", { model: "sim/fast", messages: user("x"), stop: 5 }],
    ["tools string", { model: "sim/fast", messages: user("x"), tools: "all" }],
    ["tool missing function", { model: "sim/fast", messages: user("x"), tools: [{ type: "function" }] }],
    ["tool bad type", { model: "sim/fast", messages: user("x"), tools: [{ type: "magic", function: { name: "f" } }] }],
    ["tool_choice bad", { model: "sim/fast", messages: user("x"), tool_choice: "sometimes" }],
    ["response_format bad", { model: "sim/fast", messages: user("x"), response_format: { type: "yaml" } }],
    ["json_schema without name", { model: "sim/fast", messages: user("x"), response_format: { type: "json_schema", json_schema: {} } }],
    ["seed string", { model: "sim/fast", messages: user("x"), seed: "abc" }],
    ["logprobs string", { model: "sim/fast", messages: user("x"), logprobs: "yes" }],
    ["top_logprobs huge", { model: "sim/fast", messages: user("x"), top_logprobs: 100 }],
    ["tool_calls wrong", { model: "sim/fast", messages: [{ role: "assistant", tool_calls: [{ id: 1 }] }] }],
    ["too many messages", { model: "sim/fast", messages: Array.from({ length: 3000 }, () => ({ role: "user", content: "x" })) }],
    ["array body", [1, 2, 3]],
    ["null body", null],
    ["number body", 123],
    ["string body", "hello"],
    ["bool body", true],
    ["proto pollution", JSON.parse('{"__proto__":{"admin":true},"model":5}')],
  ];
  // Hostile strings as a model name (never in the catalog) and as a role (never a valid role).
  const hostile = [
    "' OR 1=1 --", "\"; DROP TABLE ledger; --", "<script>alert(1)</script>", "../../etc/passwd", "%00", "\r\nSet-Cookie: x=1",
    "${jndi:ldap://x}", "{{7*7}}", "\u0000", "𝕳𝖊𝖑𝖑𝖔", "👨‍👩‍👧‍👦", "مرحبا", "\u202e\u202d", "ｓｉｍ／ｆａｓｔ", "SIM/FAST", " sim/fast ",
    "sim/fast\n", "null", "undefined", "NaN", "0", "-1", "true", "[]", "{}", "a".repeat(257), "\t", "\\", "sim//fast", "sim/",
    "/fast", "auto ", "AUTO", "sim/fast;rm -rf", "\ud83d", "\uFEFFsim/fast", "sim/fast\u200b", "%s%s%s%n", "*", "sim/*",
  ];
  for (const [i, text] of hostile.entries()) {
    bodies.push([`hostile model ${i}`, { model: text, messages: user("x") }]);
    bodies.push([`hostile role ${i}`, { model: "sim/fast", messages: [{ role: text, content: "x" }] }]);
  }
  const cases: Case[] = bodies.map(([name, body]) => ({ name: `chat: ${name}`, path: "/v1/chat/completions", body: JSON.stringify(body), headers: JSON_TYPE }));
  const raw = ["", "{", "}", "{]", "nul", "{'a':1}", '{"model": "sim/fast",}', "\u0000\u0001", "\uFFFD\uFFFE", '{"a":"\\ud800"', deep(5000), `{"model":"sim/fast","messages":[{"role":"user","content":"x"}],"x":${deep(200)}}`];
  for (const [i, body] of raw.entries()) cases.push({ name: `chat raw ${i}`, path: "/v1/chat/completions", body, headers: JSON_TYPE });
  for (const type of ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "", "application/xml", "json"]) {
    cases.push({ name: `chat content-type ${type || "none"}`, path: "/v1/chat/completions", body: JSON.stringify({ model: "sim/fast", messages: user("x") }), headers: type ? { "content-type": type } : {} });
  }
  return cases;
}

function headerCases(): Case[] {
  const good = JSON.stringify({ model: "sim/fast", messages: user("x") });
  const bad: Record<string, string>[] = [
    { "x-tollgate-tier": "ultra" },
    { "x-tollgate-cache": "forever" },
    { "x-tollgate-cache-ttl": "5" },
    { "x-tollgate-cache-ttl": "abc" },
    { "x-tollgate-deadline-ms": "-1" },
    { "x-tollgate-deadline-ms": "1e99" },
    { "x-tollgate-task": "has spaces" },
    { "x-tollgate-task": "t".repeat(200) },
    { "x-tollgate-data": "secret" },
    { "x-tollgate-priority": "urgent" },
    { "x-tollgate-refine": "sync" },
    { "idempotency-key": "k".repeat(300) },
  ];
  return bad.map((h, i) => ({ name: `hint header ${i}: ${Object.keys(h)[0]}`, path: "/v1/chat/completions", body: good, headers: { ...JSON_TYPE, ...h } }));
}

function authCases(): Case[] {
  const body = JSON.stringify({ model: "sim/fast", messages: user("x") });
  const headers: Record<string, string>[] = [
    {},
    { authorization: "" },
    { authorization: "Bearer" },
    { authorization: "Bearer " },
    { authorization: "Basic dXNlcjpwYXNz" },
    { authorization: "Bearer tg_short" },
    { authorization: `Bearer tg_${"x".repeat(43)}` },
    { authorization: `Bearer sk-${"x".repeat(40)}` },
    { authorization: `Bearer ${"tg_".repeat(1000)}` },
    { authorization: "Bearer tg_ab cd" },
    { authorization: "Bearer tg_🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀" },
    { "x-api-key": "" },
    { "x-api-key": "garbage" },
    { "x-api-key": `tg_${"Z".repeat(43)}` },
    { authorization: "Bearer test-admin-token" },
  ];
  return headers.map((h, i) => ({ name: `auth ${i}`, path: "/v1/chat/completions", body, headers: { ...JSON_TYPE, ...h }, auth: "none" }));
}

function otherEndpointCases(): Case[] {
  const cases: Case[] = [];
  const messages: unknown[] = [
    { model: "sim/fast", messages: user("x") },
    { model: "sim/fast", max_tokens: 10 },
    { model: "sim/fast", max_tokens: 10, messages: [] },
    { model: "sim/fast", max_tokens: 10, messages: [{ role: "system", content: "x" }] },
    { model: "sim/fast", max_tokens: "ten", messages: user("x") },
    { model: "sim/fast", max_tokens: 10, messages: user("x"), temperature: 1.5 },
    { model: "sim/fast", max_tokens: 10, messages: user("x"), system: 5 },
    { model: "sim/fast", max_tokens: 10, messages: user([{ type: "tool_result" }]) },
    { model: "nope/nope", max_tokens: 10, messages: user("x") },
    { max_tokens: 10, messages: user("x") },
  ];
  for (const [i, body] of messages.entries()) cases.push({ name: `messages ${i}`, path: "/v1/messages", body: JSON.stringify(body), headers: JSON_TYPE });
  const embeds: unknown[] = [{}, { model: "sim/embed" }, { model: "sim/embed", input: "" }, { model: "sim/embed", input: [] }, { model: "sim/embed", input: 5 }, { model: "sim/embed", input: [1, 2] }, { model: "sim/fast", input: "x" }, { model: "nope", input: "x" }, { model: "sim/embed", input: "x", encoding_format: "hex" }, { model: "sim/embed", input: Array.from({ length: 3000 }, () => "x") }];
  for (const [i, body] of embeds.entries()) cases.push({ name: `embeddings ${i}`, path: "/v1/embeddings", body: JSON.stringify(body), headers: JSON_TYPE });
  const adminBodies: [string, string, unknown][] = [
    ["/admin/tenants", "POST", {}],
    ["/admin/tenants", "POST", { name: "" }],
    ["/admin/tenants", "POST", { name: 5 }],
    ["/admin/tenants", "POST", { name: "x", extra: 1 }],
    ["/admin/tenants", "POST", { name: "x", limits: { rpm: -1 } }],
    ["/admin/tenants", "POST", { name: "x", limits: { rpm: 1e12 } }],
    ["/admin/tenants", "POST", { name: "x", budgets: [{ scope: "tenant", period: "week", limit_usd: 1 }] }],
    ["/admin/tenants", "POST", { name: "x", budgets: [{ scope: "tenant", period: "day", limit_usd: -5 }] }],
    ["/admin/tenants", "POST", { name: "x", budgets: [{ scope: "everyone", period: "day", limit_usd: 5 }] }],
    ["/admin/tenants", "POST", { name: "x", budgets: [{ scope: "tenant", period: "day", limit_usd: 5, alert_at: 0.99, degrade_at: 0.5 }] }],
    ["/admin/tenants", "POST", { name: "x", policy: { cache: { ttl_s: 1 } } }],
    ["/admin/tenants", "POST", { name: "x", policy: { alert_webhook: "not a url" } }],
    ["/admin/tenants", "POST", { name: "x", policy: { task_tiers: { a: "ultra" } } }],
    ["/admin/tenants/ten_nope/keys", "POST", {}],
    ["/admin/keys/key_nope", "DELETE", undefined],
    ["/admin/tenants/ten_nope/budgets", "PUT", []],
    ["/admin/tenants/ten_nope/limits", "PUT", { rpm: 1 }],
  ];
  for (const [path, method, body] of adminBodies) {
    cases.push({ name: `admin ${method} ${path} ${JSON.stringify(body)}`, path, method, body: body === undefined ? undefined : JSON.stringify(body), headers: JSON_TYPE, auth: "admin" });
  }
  const routes: [string, string][] = [
    ["/v1/chat/completions", "GET"],
    ["/v1/chat/completions", "DELETE"],
    ["/v1/nope", "GET"],
    ["/v1/models", "POST"],
    ["/../../etc/passwd", "GET"],
    ["/v1/chat/completions%00", "POST"],
    ["/admin/nope", "GET"],
    ["/%F0%9F%9A%80", "GET"],
  ];
  for (const [path, method] of routes) cases.push({ name: `route ${method} ${path}`, path, method, body: method === "GET" ? undefined : "{}", headers: JSON_TYPE, auth: path.startsWith("/admin") ? "admin" : "tenant" });
  return cases;
}

describe("malformed and hostile input sweep", () => {
  it("answers every case with a 4xx in the OpenAI error shape, never a 5xx", async () => {
    const tenant = await createTenant();
    const cases = [...chatCases(), ...headerCases(), ...authCases(), ...otherEndpointCases()];
    // Oversized bodies: over the 1 MiB limit, with and without a content-length the server can trust.
    cases.push({ name: "body over 1 MiB", path: "/v1/chat/completions", body: JSON.stringify({ model: "sim/fast", messages: user("x".repeat(1_100_000)) }), headers: JSON_TYPE });
    cases.push({ name: "body over 1 MiB (admin)", path: "/admin/tenants", body: JSON.stringify({ name: "x".repeat(1_100_000) }), headers: JSON_TYPE, auth: "admin" });
    expect(cases.length).toBeGreaterThanOrEqual(200);

    const failures: string[] = [];
    for (const c of cases) {
      const auth = c.auth ?? "tenant";
      const headers: Record<string, string> = { ...(c.headers ?? {}) };
      if (auth === "tenant" && !("authorization" in headers)) headers.authorization = `Bearer ${tenant.key}`;
      if (auth === "admin") headers.authorization = "Bearer test-admin-token";
      const res = await call(c.path, { method: c.method ?? "POST", headers, body: c.body });
      const text = await res.text();
      let shaped = false;
      try {
        const json = JSON.parse(text) as { error?: { message?: unknown; type?: unknown; code?: unknown; param?: unknown } };
        shaped = typeof json.error?.message === "string" && typeof json.error.type === "string" && typeof json.error.code === "string" && "param" in json.error;
      } catch {
        shaped = false;
      }
      if (res.status < 400 || res.status >= 500 || !shaped) failures.push(`${c.name} → ${res.status} ${text.slice(0, 120)}`);
    }
    expect(failures).toEqual([]);
  }, 120_000);

  it("names the failing field in `param`", async () => {
    const tenant = await createTenant();
    const res = await call("/v1/chat/completions", {
      method: "POST",
      headers: { ...JSON_TYPE, authorization: `Bearer ${tenant.key}` },
      body: JSON.stringify({ model: "sim/fast", messages: [{ role: "user", content: "x" }, { role: "nobody", content: "y" }] }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { code: "invalid_request", param: "messages[1].role" } });
    const size = await call("/v1/chat/completions", { method: "POST", headers: { ...JSON_TYPE, authorization: `Bearer ${tenant.key}` }, body: "x".repeat(1_100_000) });
    expect(size.status).toBe(413);
    expect(await size.json()).toMatchObject({ error: { code: "payload_too_large" } });
  });
});
