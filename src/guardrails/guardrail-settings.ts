import type { GuardrailSettings, TenantPolicy } from "../config/tenant-policy";

export type ResolvedGuardrails = Required<GuardrailSettings>;

const OFF: ResolvedGuardrails = { pii: "off", injection: "off", output_schema: false, pii_restore: false };

/** The tenant's guardrails for one task type: the task's own settings over the tenant's, over all off. */
export function guardrailsFor(policy: TenantPolicy, task: string): ResolvedGuardrails {
  const { tasks, ...base } = policy.guardrails;
  return { ...OFF, ...base, ...tasks[task] };
}

export const guardrailsOff = (g: ResolvedGuardrails): boolean => g.pii === "off" && g.injection === "off" && !g.output_schema;

/** Answers are scanned for personal data when requests are: redacted or blocked ones (a private route keeps them). */
export const scansAnswers = (g: ResolvedGuardrails): boolean => g.pii === "redact" || g.pii === "block";
