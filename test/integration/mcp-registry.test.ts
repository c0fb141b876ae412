import { describe, expect, it } from "vitest";
import { call, createTenant } from "../fixtures/gateway";

const put = (key: string, name: string, body: unknown) =>
  call(`/v1/mcp/servers/${name}`, { method: "PUT", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: JSON.stringify(body) });
const get = (key: string, name: string, method = "GET") => call(`/v1/mcp/servers/${name}`, { method, headers: { authorization: `Bearer ${key}` } });

describe("MCP server registrations", () => {
  it("stores a registration per tenant, never shows its header values, and deletes it", async () => {
    const tenant = await createTenant();
    const other = await createTenant();
    const body = { url: "https://tools.example.com/mcp", headers: { authorization: "Bearer upstream-secret" }, allowed_tools: ["search"], tools: { search: { max_concurrency: 2, timeout_ms: 5000, cache_ttl_s: 60 } } };
    expect((await put(tenant.key, "search-tools", body)).status).toBe(200);
    const shown = await get(tenant.key, "search-tools");
    const view = await shown.json<Record<string, unknown>>();
    expect(view).toMatchObject({ name: "search-tools", url: "https://tools.example.com/mcp", allowed_tools: ["search"], headers: { authorization: "<redacted>" } });
    expect(JSON.stringify(view)).not.toContain("upstream-secret");
    expect((await get(other.key, "search-tools")).status).toBe(404);
    // Another tenant's MCP endpoint of the same name does not exist either.
    expect((await call("/v1/mcp/search-tools", { method: "POST", headers: { authorization: `Bearer ${other.key}`, "content-type": "application/json" }, body: "{}" })).status).toBe(404);
    expect((await get(tenant.key, "search-tools", "DELETE")).status).toBe(204);
    expect((await get(tenant.key, "search-tools")).status).toBe(404);
    expect((await get(tenant.key, "search-tools", "DELETE")).status).toBe(404);
  });

  it("refuses bad registrations with a 400 naming the field", async () => {
    const tenant = await createTenant();
    const cases: [string, unknown, string][] = [
      ["ok-name", { url: "ftp://tools.example.com" }, "url"],
      ["ok-name", { url: "https://user:pw@tools.example.com" }, "url"],
      ["servers", { url: "https://tools.example.com" }, "name"],
      ["Bad Name", { url: "https://tools.example.com" }, "name"],
      ["ok-name", { url: "https://tools.example.com", tools: { t: { max_concurrency: 0 } } }, "tools.t.max_concurrency"],
      ["ok-name", { url: "https://tools.example.com", extra: true }, ""],
    ];
    for (const [name, body, param] of cases) {
      const res = await put(tenant.key, encodeURIComponent(name), body);
      expect(res.status, `${name} ${JSON.stringify(body)}`).toBe(400);
      const error = (await res.json<{ error: { code: string; param: string | null } }>()).error;
      expect(error.code).toBe("invalid_request");
      if (param) expect(error.param).toBe(param);
    }
  });

  it("answers GET on the MCP endpoint with 405: the gateway is stateless", async () => {
    const tenant = await createTenant();
    expect((await put(tenant.key, "s", { url: "https://tools.example.com/mcp" })).status).toBe(200);
    const res = await call("/v1/mcp/s", { headers: { authorization: `Bearer ${tenant.key}`, accept: "text/event-stream" } });
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("POST");
  });
});
