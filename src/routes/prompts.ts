import { type Context, Hono } from "hono";
import * as z from "zod";
import type { RolloutResult } from "../../durable-objects/prompt-registry";
import { GatewayError } from "../errors";
import type { AppEnv } from "../hono-env";
import { defineVersion, PROMPT_NAME, PromptVersionInputSchema } from "../prompts/prompt-definition";
import { promptRegistry } from "../prompts/prompt-registry-client";
import { promptReport } from "../prompts/prompt-report";
import { parseJsonBody } from "../validate/parse-json-body";

const RolloutSchema = z.object({ version: z.number().int().positive(), percent: z.number().min(0).max(100) }).strict();

function promptName(c: Context<AppEnv>): string {
  const name = c.req.param("name") ?? "";
  if (!PROMPT_NAME.test(name)) throw GatewayError.invalid("A prompt name is 1-64 letters, digits, '.', '_' or '-'", "name");
  return name;
}

function rolloutOutcome(c: Context<AppEnv>, name: string, result: RolloutResult) {
  if (!result.ok) throw result.status === 404 ? GatewayError.notFound(`prompt '${name}'`) : GatewayError.invalid(result.message, "version");
  return c.json({ name, rollout: result.rollout });
}

/**
 * The prompt registry: immutable versions, a canary rollout and a rollback, per tenant. State lives in
 * the tenant's PromptRegistry object; the report reads the ledger.
 */
export const promptRoutes = new Hono<AppEnv>()
  .put("/prompts/:name", async (c) => {
    const name = promptName(c);
    const body = defineVersion(await parseJsonBody(c, PromptVersionInputSchema));
    const version = await promptRegistry(c.env, c.var.tenant).putVersion(name, body);
    return c.json({ name, version }, 201);
  })
  .get("/prompts/:name", async (c) => {
    const name = promptName(c);
    const view = await promptRegistry(c.env, c.var.tenant).view(name);
    if (!view) throw GatewayError.notFound(`prompt '${name}'`);
    return c.json(view);
  })
  .put("/prompts/:name/rollout", async (c) => {
    const name = promptName(c);
    const body = await parseJsonBody(c, RolloutSchema);
    return rolloutOutcome(c, name, await promptRegistry(c.env, c.var.tenant).setRollout(name, body.version, body.percent));
  })
  .post("/prompts/:name/rollback", async (c) => {
    const name = promptName(c);
    return rolloutOutcome(c, name, await promptRegistry(c.env, c.var.tenant).rollback(name));
  })
  .get("/prompts/:name/report", async (c) => {
    const name = promptName(c);
    const view = await promptRegistry(c.env, c.var.tenant).view(name);
    if (!view) throw GatewayError.notFound(`prompt '${name}'`);
    const figures = await promptReport(c.env.DB, c.var.tenant.tenantId, name);
    return c.json({ name, rollout: view.rollout, versions: figures });
  });
