import { ulid } from "../unique-id";

export interface DeadLetterRow {
  id: string;
  queue: string;
  tenant_id: string | null;
  body_json: string;
  reason: string;
  attempts: number;
  created_at: number;
  replayed_at: number | null;
}

export interface DeadLetterInput {
  /** Stable per message, so a redelivered dead letter is recorded once. */
  id: string;
  queue: string;
  tenantId: string | null;
  body: unknown;
  reason: string;
  attempts: number;
  now: number;
}

export async function recordDeadLetter(db: D1Database, input: DeadLetterInput): Promise<boolean> {
  const res = await db
    .prepare("INSERT OR IGNORE INTO dead_letters (id, queue, tenant_id, body_json, reason, attempts, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)")
    .bind(input.id, input.queue, input.tenantId, JSON.stringify(input.body), input.reason.slice(0, 1000), input.attempts, input.now)
    .run();
  return res.meta.changes > 0;
}

/**
 * A consumer that gives up on a message sends it to the dead-letter queue itself (so the decision
 * can use the job's own attempt count, which survives replays). If that send fails, the row is
 * written directly: a dead letter is never lost.
 */
export async function sendToDeadLetters(env: Env, body: unknown, fallback: Omit<DeadLetterInput, "id" | "body">): Promise<void> {
  try {
    await env.DEAD_LETTERS.send(body, { contentType: "json" });
  } catch (error) {
    console.error(JSON.stringify({ level: "warn", msg: "dead-letter queue send failed; recording directly", error: String(error) }));
    await recordDeadLetter(env.DB, { ...fallback, id: `dl_${ulid()}`, body });
  }
}
