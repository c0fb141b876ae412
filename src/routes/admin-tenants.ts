import { Hono } from "hono";
import { ulid } from "../unique-id";
import * as z from "zod";
import { generateApiKey, sha256Hex } from "../auth/key-hash";
import { invalidateKeyHashes } from "../auth/key-store";
import { pushBudgetConfig } from "../budget/budget-client";
import { type Budget, BudgetListSchema } from "../config/budget-config";
import { TenantLimitsSchema, TenantPolicySchema } from "../config/tenant-policy";
import { GatewayError } from "../errors";
import { assertCallbackUrl } from "../delivery/callback-url-guard";
import type { AppEnv } from "../hono-env";
import { parseJsonBody, validate } from "../validate/parse-json-body";

const CreateTenantSchema = z
  .object({
    name: z.string().trim().min(1).max(200),
    policy: TenantPolicySchema.optional(),
    budgets: BudgetListSchema.optional(),
    limits: TenantLimitsSchema.optional(),
  })
  .strict();

async function requireTenant(db: D1Database, id: string): Promise<{ id: string; name: string; policy_json: string; limits_json: string; created_at: number }> {
  const row = await db.prepare("SELECT id, name, policy_json, limits_json, created_at FROM tenants WHERE id = ?").bind(id).first<{ id: string; name: string; policy_json: string; limits_json: string; created_at: number }>();
  if (!row) throw GatewayError.notFound("tenant");
  return row;
}

export async function tenantBudgets(db: D1Database, tenantId: string): Promise<Budget[]> {
  const { results } = await db
    .prepare("SELECT scope, period, limit_usd, alert_at, degrade_at, throttle_at FROM budgets WHERE tenant_id = ? ORDER BY scope, period")
    .bind(tenantId)
    .all<Budget>();
  return results;
}

/** Cached key records carry the tenant's config: drop them so a change is seen at once here and within 60 s elsewhere. */
async function invalidateTenantKeys(env: Env, tenantId: string): Promise<void> {
  const { results } = await env.DB.prepare("SELECT key_hash FROM api_keys WHERE tenant_id = ?").bind(tenantId).all<{ key_hash: string }>();
  await invalidateKeyHashes(env, results.map((r) => r.key_hash));
}

function budgetStatements(db: D1Database, tenantId: string, budgets: Budget[]): D1PreparedStatement[] {
  const insert = db.prepare("INSERT INTO budgets (tenant_id, scope, period, limit_usd, alert_at, degrade_at, throttle_at) VALUES (?, ?, ?, ?, ?, ?, ?)");
  return [
    db.prepare("DELETE FROM budgets WHERE tenant_id = ?").bind(tenantId),
    ...budgets.map((b) => insert.bind(tenantId, b.scope, b.period, b.limit_usd, b.alert_at, b.degrade_at, b.throttle_at)),
  ];
}

/** After a config change: cached key records carry the config, and the budget object holds its own copy. */
async function changed(env: Env, tenantId: string): Promise<void> {
  await invalidateTenantKeys(env, tenantId);
  await pushBudgetConfig(env, tenantId);
}

const ListQuerySchema = z.object({ limit: z.coerce.number().int().min(1).max(500).default(100), after: z.string().max(64).optional() });

type KeyRow = { id: string; prefix: string; created_at: number; revoked_at: number | null };
const keyRows = (db: D1Database, tenantId: string) =>
  db.prepare("SELECT id, key_prefix AS prefix, created_at, revoked_at FROM api_keys WHERE tenant_id = ? ORDER BY created_at, id").bind(tenantId).all<KeyRow>();

export const adminTenantRoutes = new Hono<AppEnv>()
  .get("/tenants", async (c) => {
    // Ids are ULIDs, so ordering by id is creation order and `after` is a stable cursor.
    const query = validate(ListQuerySchema, c.req.query());
    const { results } = await c.env.DB.prepare(
      `SELECT t.id, t.name, t.created_at, (SELECT COUNT(*) FROM api_keys k WHERE k.tenant_id = t.id AND k.revoked_at IS NULL) AS active_keys
       FROM tenants t WHERE t.id > ? ORDER BY t.id LIMIT ?`,
    )
      .bind(query.after ?? "", query.limit + 1)
      .all<{ id: string; name: string; created_at: number; active_keys: number }>();
    const data = results.slice(0, query.limit);
    return c.json({ object: "list", data, has_more: results.length > query.limit, last_id: data.at(-1)?.id ?? null });
  })
  .get("/tenants/:id/keys", async (c) => {
    const tenant = await requireTenant(c.env.DB, c.req.param("id"));
    // Prefixes only: the plaintext key was shown once, at creation, and only its hash is stored.
    const { results } = await keyRows(c.env.DB, tenant.id);
    return c.json({ object: "list", tenant_id: tenant.id, data: results.map((k) => ({ ...k, active: k.revoked_at === null })) });
  })
  .post("/tenants", async (c) => {
    const body = await parseJsonBody(c, CreateTenantSchema);
    if (body.policy?.alert_webhook) assertCallbackUrl(body.policy.alert_webhook, c.env.ENVIRONMENT, "policy.alert_webhook");
    const id = `ten_${ulid()}`;
    const policy = body.policy ?? TenantPolicySchema.parse({});
    const limits = body.limits ?? TenantLimitsSchema.parse({});
    const createdAt = Date.now();
    await c.env.DB.batch([
      c.env.DB.prepare("INSERT INTO tenants (id, name, policy_json, limits_json, created_at) VALUES (?, ?, ?, ?, ?)").bind(id, body.name, JSON.stringify(policy), JSON.stringify(limits), createdAt),
      ...budgetStatements(c.env.DB, id, body.budgets ?? []),
    ]);
    await pushBudgetConfig(c.env, id);
    return c.json({ id, name: body.name, policy, limits, budgets: body.budgets ?? [], created_at: createdAt }, 201);
  })
  .get("/tenants/:id", async (c) => {
    const row = await requireTenant(c.env.DB, c.req.param("id"));
    const keys = await c.env.DB.prepare("SELECT id, key_prefix AS prefix, created_at, revoked_at FROM api_keys WHERE tenant_id = ? ORDER BY created_at").bind(row.id).all();
    return c.json({
      id: row.id,
      name: row.name,
      policy: JSON.parse(row.policy_json),
      limits: JSON.parse(row.limits_json),
      budgets: await tenantBudgets(c.env.DB, row.id),
      keys: keys.results,
      created_at: row.created_at,
    });
  })
  .post("/tenants/:id/keys", async (c) => {
    const tenant = await requireTenant(c.env.DB, c.req.param("id"));
    const key = generateApiKey();
    const id = `key_${ulid()}`;
    await c.env.DB.prepare("INSERT INTO api_keys (id, tenant_id, key_hash, key_prefix, created_at) VALUES (?, ?, ?, ?, ?)")
      .bind(id, tenant.id, await sha256Hex(key), key.slice(0, 8), Date.now())
      .run();
    // The only time the plaintext exists outside the client: it is never stored or logged.
    return c.json({ id, key, tenant_id: tenant.id, prefix: key.slice(0, 8) }, 201);
  })
  .delete("/keys/:id", async (c) => {
    const row = await c.env.DB.prepare("SELECT key_hash, revoked_at FROM api_keys WHERE id = ?").bind(c.req.param("id")).first<{ key_hash: string; revoked_at: number | null }>();
    if (!row) throw GatewayError.notFound("key");
    const revokedAt = row.revoked_at ?? Date.now();
    await c.env.DB.prepare("UPDATE api_keys SET revoked_at = ? WHERE id = ?").bind(revokedAt, c.req.param("id")).run();
    await invalidateKeyHashes(c.env, [row.key_hash]);
    return c.json({ id: c.req.param("id"), revoked_at: revokedAt });
  })
  .put("/tenants/:id/policy", async (c) => {
    const tenant = await requireTenant(c.env.DB, c.req.param("id"));
    const policy = await parseJsonBody(c, TenantPolicySchema);
    if (policy.alert_webhook) assertCallbackUrl(policy.alert_webhook, c.env.ENVIRONMENT, "alert_webhook");
    await c.env.DB.prepare("UPDATE tenants SET policy_json = ? WHERE id = ?").bind(JSON.stringify(policy), tenant.id).run();
    await changed(c.env, tenant.id);
    return c.json({ id: tenant.id, policy });
  })
  .put("/tenants/:id/limits", async (c) => {
    const tenant = await requireTenant(c.env.DB, c.req.param("id"));
    const limits = await parseJsonBody(c, TenantLimitsSchema);
    await c.env.DB.prepare("UPDATE tenants SET limits_json = ? WHERE id = ?").bind(JSON.stringify(limits), tenant.id).run();
    await changed(c.env, tenant.id);
    return c.json({ id: tenant.id, limits });
  })
  .put("/tenants/:id/budgets", async (c) => {
    const tenant = await requireTenant(c.env.DB, c.req.param("id"));
    const budgets = await parseJsonBody(c, BudgetListSchema);
    await c.env.DB.batch(budgetStatements(c.env.DB, tenant.id, budgets));
    await changed(c.env, tenant.id);
    return c.json({ id: tenant.id, budgets });
  });
