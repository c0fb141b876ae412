import { Hono } from "hono";
import * as z from "zod";
import { GatewayError } from "../errors";
import type { AppEnv } from "../hono-env";
import type { DeadLetterRow } from "../delivery/dead-letter-store";
import { replayDeadLetter } from "../jobs/dead-letter-replay";
import { validate } from "../validate/parse-json-body";

const ListQuerySchema = z.object({
  queue: z.string().max(64).optional(),
  tenant_id: z.string().max(64).optional(),
  replayed: z.enum(["true", "false"]).optional(),
  /** Epoch ms: only letters created before it (for paging back). */
  before: z.coerce.number().int().optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

function deadLetterView(row: DeadLetterRow) {
  let body: unknown = row.body_json;
  try {
    body = JSON.parse(row.body_json);
  } catch {
    // Kept as text: a dead letter is shown as it arrived.
  }
  return { id: row.id, queue: row.queue, tenant_id: row.tenant_id, reason: row.reason, attempts: row.attempts, body, created_at: row.created_at, replayed_at: row.replayed_at };
}

/** GET /admin/dead-letters, GET /admin/dead-letters/:id, POST /admin/dead-letters/:id/replay */
export const adminDeadLetterRoutes = new Hono<AppEnv>()
  .get("/dead-letters", async (c) => {
    const q = validate(ListQuerySchema, c.req.query());
    const replayed = q.replayed === undefined ? null : q.replayed === "true" ? 1 : 0;
    const { results } = await c.env.DB.prepare(
      `SELECT * FROM dead_letters
        WHERE (?1 IS NULL OR queue = ?1) AND (?2 IS NULL OR tenant_id = ?2) AND (?3 IS NULL OR (replayed_at IS NOT NULL) = ?3) AND (?4 IS NULL OR created_at < ?4)
        ORDER BY created_at DESC, id DESC LIMIT ?5`,
    )
      .bind(q.queue ?? null, q.tenant_id ?? null, replayed, q.before ?? null, q.limit)
      .all<DeadLetterRow>();
    return c.json({ object: "list", data: results.map(deadLetterView) });
  })
  .get("/dead-letters/:id", async (c) => {
    const row = await c.env.DB.prepare("SELECT * FROM dead_letters WHERE id = ?").bind(c.req.param("id")).first<DeadLetterRow>();
    if (!row) throw GatewayError.notFound("dead letter");
    return c.json(deadLetterView(row));
  })
  .post("/dead-letters/:id/replay", async (c) => c.json(await replayDeadLetter(c.env, c.req.param("id"))));
