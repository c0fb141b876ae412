import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import { CfWorkerJsonSchemaValidator } from "@modelcontextprotocol/sdk/validation/cfworker";
import { afterEach, describe, expect, it, vi } from "vitest";
import { z } from "zod";
import { BASE, call, createTenant } from "../fixtures/gateway";

// A tool with input and output schemas through the MCP gateway, both SDK ends validating with
// @cfworker/json-schema. The deployed bundle has no ajv at all (wrangler.toml `[alias]` swaps it for
// src/mcp/ajv-not-bundled.ts, which throws if constructed); vitest does not bundle with wrangler and
// cannot swap a dependency's own imports, so that part is checked on the built bundle by
// test/clients/bundle-contents.test.mjs, and end to end under `wrangler dev` by `npm run test:mcp`.

const UPSTREAM = "https://tools.example.com/mcp";

// A real MCP server (the SDK's own, stateless Streamable HTTP) answering the gateway's upstream fetches.
async function upstreamMcp(request: Request): Promise<Response> {
  const server = new McpServer({ name: "upstream", version: "1.0.0" }, { jsonSchemaValidator: new CfWorkerJsonSchemaValidator() });
  server.registerTool(
    "area",
    { description: "Area of a rectangle", inputSchema: { w: z.number(), h: z.number() }, outputSchema: { area: z.number() }, annotations: { readOnlyHint: true } },
    async ({ w, h }) => ({ content: [{ type: "text", text: String(w * h) }], structuredContent: { area: w * h } }),
  );
  const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
  await server.connect(transport);
  return transport.handleRequest(request);
}

function mockUpstream() {
  const realFetch = globalThis.fetch;
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    const request = new Request(input, init);
    return request.url === UPSTREAM ? upstreamMcp(request) : realFetch(request);
  });
}

afterEach(() => vi.restoreAllMocks());

describe("MCP gateway: tools with schemas", () => {
  it("lists and calls a tool with an output schema end to end, the SDKs validating with @cfworker/json-schema", async () => {
    mockUpstream();
    const tenant = await createTenant();
    const put = await call("/v1/mcp/servers/geo", {
      method: "PUT",
      headers: { authorization: `Bearer ${tenant.key}`, "content-type": "application/json" },
      body: JSON.stringify({ url: UPSTREAM, allowed_tools: ["area"] }),
    });
    expect(put.status).toBe(200);

    // The agent's side: the SDK client, through the gateway's own fetch handler.
    const client = new Client({ name: "agent", version: "1.0.0" }, { jsonSchemaValidator: new CfWorkerJsonSchemaValidator() });
    const transport = new StreamableHTTPClientTransport(new URL(`${BASE}/v1/mcp/geo`), {
      requestInit: { headers: { authorization: `Bearer ${tenant.key}` } },
      fetch: (url, init) => call(new URL(String(url)).pathname, init),
    });
    await client.connect(transport);
    try {
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name)).toEqual(["area"]);
      expect(tools[0]?.outputSchema).toMatchObject({ type: "object", properties: { area: { type: "number" } } });
      // The client checks structuredContent against the listed outputSchema (with cfworker): a wrong
      // shape would throw here.
      const result = await client.callTool({ name: "area", arguments: { w: 3, h: 4 } });
      expect(result.structuredContent).toEqual({ area: 12 });
      expect(result.isError).toBeFalsy();
    } finally {
      await client.close();
    }
  });
});
