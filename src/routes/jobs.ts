import { Hono } from "hono";
import * as z from "zod";
import { GatewayError } from "../errors";
import type { AppEnv } from "../hono-env";
import { cancelWaitingJob, getTenantJob, JOB_STATUSES, type JobRow, ownerCost } from "../jobs/job-store";
import { JobCreateSchema, submitJob } from "../jobs/job-submission";
import { jobView } from "../jobs/job-view";
import { LaneSchema } from "../jobs/lanes";
import { hintsFromHeaders } from "../jobs/stored-hints";
import { parseJsonBody, validate } from "../validate/parse-json-body";

const ListQuerySchema = z.object({
  status: z.enum(JOB_STATUSES).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
});

async function requireJob(db: D1Database, tenantId: string, id: string): Promise<JobRow> {
  const job = await getTenantJob(db, tenantId, id);
  if (!job) throw GatewayError.notFound("job");
  return job;
}

/** POST/GET/DELETE /v1/jobs: one chat request, run later on a priority lane. */
export const jobRoutes = new Hono<AppEnv>()
  .post("/jobs", async (c) => {
    const body = await parseJsonBody(c, JobCreateSchema);
    const header = (name: string) => c.req.header(name);
    const priority = LaneSchema.safeParse(c.req.header("x-tollgate-priority"));
    const { job, replayed } = await submitJob(c.env, {
      tenant: c.var.tenant,
      body,
      hints: hintsFromHeaders(header),
      headerPriority: priority.success ? priority.data : undefined,
      idempotencyKey: c.req.header("idempotency-key")?.trim() || undefined,
    });
    c.header("location", `/v1/jobs/${job.id}`);
    if (replayed) c.header("idempotent-replayed", "true");
    return c.json(jobView(job, await ownerCost(c.env.DB, job.id)), 202);
  })
  .get("/jobs", async (c) => {
    const query = validate(ListQuerySchema, c.req.query());
    const { results } = await c.env.DB.prepare(
      `SELECT * FROM jobs WHERE tenant_id = ? AND batch_id IS NULL AND (? IS NULL OR status = ?) ORDER BY created_at DESC LIMIT ?`,
    )
      .bind(c.var.tenant.tenantId, query.status ?? null, query.status ?? null, query.limit)
      .all<JobRow>();
    const data = await Promise.all(results.map(async (job) => jobView(job, await ownerCost(c.env.DB, job.id))));
    return c.json({ object: "list", data });
  })
  .get("/jobs/:id", async (c) => {
    const job = await requireJob(c.env.DB, c.var.tenant.tenantId, c.req.param("id"));
    return c.json(jobView(job, await ownerCost(c.env.DB, job.id)));
  })
  .delete("/jobs/:id", async (c) => {
    const { tenantId } = c.var.tenant;
    const id = c.req.param("id");
    const job = await requireJob(c.env.DB, tenantId, id);
    if (job.status !== "cancelled" && !(await cancelWaitingJob(c.env.DB, tenantId, id, Date.now()))) {
      const now = await requireJob(c.env.DB, tenantId, id);
      if (now.status !== "cancelled") throw new GatewayError(409, "invalid_request", `Job ${id} is ${now.status}; only queued or deferred jobs can be cancelled`);
    }
    const after = await requireJob(c.env.DB, tenantId, id);
    return c.json(jobView(after, await ownerCost(c.env.DB, id)));
  });
