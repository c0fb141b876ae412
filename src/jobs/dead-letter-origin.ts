import { LedgerEventSchema } from "../ledger/ledger-event";
import { type JobMessage, type StepMessage, WorkMessageSchema } from "./work-messages";

/**
 * The dead-letter queue receives messages from every queue without saying which one, so the origin is
 * read from the body: job and workflow-step messages carry `type` and `lane`, ledger events are
 * LedgerEvent objects (request_id + endpoint), and alert events carry `type: "alert…"` (or, failing
 * that, the threshold/scope fields of a budget alert).
 */
export type DeadLetterOrigin =
  | { kind: "job"; queue: string; tenantId: string; message: JobMessage }
  | { kind: "workflow_step"; queue: string; tenantId: string; message: StepMessage }
  | { kind: "ledger"; queue: "ledger"; tenantId: string | null }
  | { kind: "alert"; queue: "alerts"; tenantId: string | null }
  | { kind: "unknown"; queue: "unknown"; tenantId: string | null };

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

export function originOf(body: unknown): DeadLetterOrigin {
  const work = WorkMessageSchema.safeParse(body);
  if (work.success) {
    const message = work.data;
    return message.type === "job"
      ? { kind: "job", queue: `jobs-${message.lane}`, tenantId: message.tenant_id, message }
      : { kind: "workflow_step", queue: `jobs-${message.lane}`, tenantId: message.tenant_id, message };
  }
  const tenantId = isRecord(body) && typeof body.tenant_id === "string" ? body.tenant_id.slice(0, 64) : null;
  if (LedgerEventSchema.safeParse(body).success) return { kind: "ledger", queue: "ledger", tenantId };
  if (isRecord(body) && ((typeof body.type === "string" && /alert/i.test(body.type)) || ("threshold" in body && "scope" in body && "period" in body))) {
    return { kind: "alert", queue: "alerts", tenantId };
  }
  return { kind: "unknown", queue: "unknown", tenantId };
}
