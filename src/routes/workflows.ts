import { Hono } from "hono";
import { ulid } from "../unique-id";
import * as z from "zod";
import { GatewayError } from "../errors";
import type { AppEnv } from "../hono-env";
import { claimIdempotencyKey } from "../jobs/idempotency-keys";
import { assertRunnableRequest } from "../jobs/job-submission";
import { LaneSchema } from "../jobs/lanes";
import { hintsFromHeaders } from "../jobs/stored-hints";
import { startRun } from "../jobs/workflow-coordinator";
import { assertInputCovers, parseDefinition, WorkflowDefinitionSchema, WorkflowNameSchema } from "../jobs/workflow-definition";
import { getRun, getSteps, stepCosts } from "../jobs/workflow-store";
import { runView } from "../jobs/workflow-view";
import { parseJsonBody, validate } from "../validate/parse-json-body";

const RunCreateSchema = z
  .object({
    input: z.record(z.string(), z.unknown()).default({}),
    /** Overrides the definition's deadline_s for this run. */
    deadline_s: z.number().int().min(1).max(86_400).optional(),
    priority: LaneSchema.optional(),
    /** Dev/test hook: x-tollgate-sim-fault per step. The provider registry ignores it in production. */
    sim_faults: z.record(z.string().max(32), z.string().max(512)).optional(),
  })
  .strict();

type WorkflowRow = { definition_json: string; version: number; created_at: number; updated_at: number };

async function requireWorkflow(db: D1Database, tenantId: string, name: string): Promise<WorkflowRow> {
  const row = await db.prepare("SELECT definition_json, version, created_at, updated_at FROM workflows WHERE tenant_id = ? AND name = ?").bind(tenantId, name).first<WorkflowRow>();
  if (!row) throw GatewayError.notFound("workflow");
  return row;
}

const workflowName = (raw: string) => validate(WorkflowNameSchema, raw);

/** Multi-step workflows: definitions, runs (coordinator) and their status. */
export const workflowRoutes = new Hono<AppEnv>()
  .put("/workflows/:name", async (c) => {
    const name = workflowName(c.req.param("name"));
    const definition = await parseJsonBody(c, WorkflowDefinitionSchema);
    definition.steps.forEach((step, i) => assertRunnableRequest(c.env, { model: step.model, messages: [{ role: "user", content: "" }] }, `steps[${i}]`));
    const now = Date.now();
    const row = await c.env.DB.prepare(
      `INSERT INTO workflows (tenant_id, name, definition_json, version, created_at, updated_at) VALUES (?, ?, ?, 1, ?, ?)
       ON CONFLICT (tenant_id, name) DO UPDATE SET definition_json = excluded.definition_json, version = version + 1, updated_at = excluded.updated_at
       RETURNING version`,
    )
      .bind(c.var.tenant.tenantId, name, JSON.stringify(definition), now, now)
      .first<{ version: number }>();
    return c.json({ name, object: "workflow", version: row?.version ?? 1, definition, updated_at: now });
  })
  .get("/workflows/:name", async (c) => {
    const name = workflowName(c.req.param("name"));
    const row = await requireWorkflow(c.env.DB, c.var.tenant.tenantId, name);
    return c.json({ name, object: "workflow", version: row.version, definition: parseDefinition(row.definition_json), created_at: row.created_at, updated_at: row.updated_at });
  })
  .post("/workflows/:name/runs", async (c) => {
    const name = workflowName(c.req.param("name"));
    const body = await parseJsonBody(c, RunCreateSchema);
    const { tenant } = c.var;
    const workflow = await requireWorkflow(c.env.DB, tenant.tenantId, name);
    const definition = parseDefinition(workflow.definition_json);
    assertInputCovers(definition, body.input);
    const priority = LaneSchema.safeParse(c.req.header("x-tollgate-priority"));
    const lane = body.priority ?? (priority.success ? priority.data : "standard");
    const hints = { ...hintsFromHeaders((h) => c.req.header(h)), ...(body.sim_faults ? { stepFaults: body.sim_faults } : {}) };
    let runId = `wfr_${ulid()}`;
    const key = c.req.header("idempotency-key")?.trim();
    if (key) {
      const claim = await claimIdempotencyKey(c.env.DB, tenant.tenantId, "workflow_run", key, { name, body, hints, lane }, runId);
      runId = claim.resourceId;
      const existing = claim.fresh ? null : await getRun(c.env.DB, runId);
      if (existing) {
        c.header("idempotent-replayed", "true");
        return c.json({ id: existing.id, object: "workflow.run", status: existing.status, url: `/v1/workflow-runs/${existing.id}` }, 202);
      }
    }
    await startRun(c.env, { tenant, name, version: workflow.version, definition, input: body.input, lane, hints, deadlineS: body.deadline_s, runId });
    c.header("location", `/v1/workflow-runs/${runId}`);
    return c.json({ id: runId, object: "workflow.run", status: "running", url: `/v1/workflow-runs/${runId}` }, 202);
  })
  .get("/workflow-runs/:id", async (c) => {
    const run = await getRun(c.env.DB, c.req.param("id"));
    if (!run || run.tenant_id !== c.var.tenant.tenantId) throw GatewayError.notFound("workflow run");
    const [steps, costs] = await Promise.all([getSteps(c.env.DB, run.id), stepCosts(c.env.DB, run.id)]);
    return c.json(runView(run, steps, costs, parseDefinition(run.definition_json)));
  });
