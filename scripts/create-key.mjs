#!/usr/bin/env node
// `npm run key -- [name] [--port N]`: creates a tenant on the local gateway and prints a fresh API key.
// Finds the gateway as TOLLGATE_URL, else --port, else the URL `npm start` wrote for this checkout
// (.wrangler/tollgate-url, so `npm start -- --port N` needs nothing more), else http://127.0.0.1:8787.
// ADMIN_TOKEN defaults to dev-admin-token.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";

const { values, positionals } = parseArgs({ options: { port: { type: "string" } }, allowPositionals: true });
const urlFile = path.resolve(import.meta.dirname, "..", ".wrangler", "tollgate-url");
const base =
  process.env.TOLLGATE_URL ||
  (values.port ? `http://127.0.0.1:${values.port}` : existsSync(urlFile) ? readFileSync(urlFile, "utf8").trim() : "http://127.0.0.1:8787");
const token = process.env.ADMIN_TOKEN ?? "dev-admin-token";
const name = positionals[0] ?? "local-dev";
const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };

async function post(path, body) {
  const res = await fetch(`${base}${path}`, { method: "POST", headers, body: JSON.stringify(body ?? {}) });
  const json = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(`${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

try {
  const tenant = await post("/admin/tenants", { name });
  const key = await post(`/admin/tenants/${tenant.id}/keys`);
  console.log(`gateway: ${base}`);
  console.log(`tenant:  ${tenant.id}`);
  console.log(`key:     ${key.key}`);
  console.log(`\nexport TOLLGATE_KEY=${key.key}`);
  console.log(`# or, for the OpenAI SDKs and the agent frameworks built on them:\nexport OPENAI_BASE_URL=${base}/v1 OPENAI_API_KEY=${key.key}`);
} catch (error) {
  console.error(`could not create a key against ${base}: ${error.message}\nIs the gateway running (npm start)?`);
  process.exit(1);
}
