#!/usr/bin/env node
// `npm run key -- [name]`: creates a tenant on the local gateway and prints a fresh API key.
// Honours TOLLGATE_URL (default http://127.0.0.1:8787) and ADMIN_TOKEN (default dev-admin-token).
const base = process.env.TOLLGATE_URL ?? "http://127.0.0.1:8787";
const token = process.env.ADMIN_TOKEN ?? "dev-admin-token";
const name = process.argv[2] ?? "local-dev";
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
  console.log(`tenant: ${tenant.id}`);
  console.log(`key:    ${key.key}`);
  console.log(`\nexport TOLLGATE_KEY=${key.key}`);
} catch (error) {
  console.error(`could not create a key against ${base}: ${error.message}\nIs the gateway running (npm start)?`);
  process.exit(1);
}
