import { GatewayError } from "../errors";
import type { ChatCompletion } from "../providers/provider-types";
import type { ChatRequest } from "../validate/chat-request";
import type { ExecutionEnv } from "./job-executor";
import { LANE_SETTINGS, retryDelayS } from "./lanes";
import { loadWorkTenant } from "./queue-chat-context";
import { commitAttempt, errorRecord, runWorkCall } from "./run-work-call";
import { attemptHints, storedSession } from "./stored-hints";
import { advanceRun, stepFailedForGood, timeOutRun } from "./workflow-coordinator";
import { parseDefinition, renderTemplate, type WorkflowStep } from "./workflow-definition";
import { claimStep, getRun, getStep, getSteps, RunHintsSchema, type RunRow, settleStepStatement, stepOwnerId } from "./workflow-store";
import { LEASE_MS, stepHeartbeat } from "./work-lease";
import type { StepMessage } from "./work-messages";

function completionText(completion: ChatCompletion | null): string {
  const message = completion?.choices[0]?.message;
  if (typeof message?.content === "string") return message.content;
  const call = message?.tool_calls?.[0];
  return call ? call.function.arguments : "";
}

async function buildRequest(db: D1Database, run: RunRow, step: WorkflowStep): Promise<ChatRequest> {
  const outputs = new Map<string, string>();
  for (const row of await getSteps(db, run.id)) if (row.status === "succeeded" || row.status === "skipped") outputs.set(row.name, row.output ?? "");
  const input = JSON.parse(run.input_json) as Record<string, unknown>;
  const messages: ChatRequest["messages"] = [];
  if (step.system) messages.push({ role: "system", content: renderTemplate(step.system, input, outputs) });
  messages.push({ role: "user", content: renderTemplate(step.prompt, input, outputs) });
  return {
    model: step.model,
    messages,
    ...(step.max_tokens ? { max_tokens: step.max_tokens } : {}),
    ...(step.temperature !== undefined ? { temperature: step.temperature } : {}),
  };
}

/**
 * The executor: runs one step through the normal pipeline (routing, caches, budgets, ledger), stores
 * its output, then asks the coordinator what is ready next. The step's timeout is its call's deadline,
 * capped by what is left of the run's deadline.
 */
export async function executeStep(x: ExecutionEnv, body: StepMessage, deliveryAttempt: number): Promise<{ retryDelayS?: number }> {
  const { env } = x;
  const clock = () => x.now?.() ?? Date.now();
  const now = clock();
  const run = await getRun(env.DB, body.run_id);
  if (!run || run.tenant_id !== body.tenant_id) return {};
  const row = await getStep(env.DB, run.id, body.step);
  if (!row) return {};
  if (run.status !== "running") return {};
  if (now >= run.deadline_at) {
    await timeOutRun(env, run.id, now);
    return {};
  }
  const step = parseDefinition(run.definition_json).steps.find((s) => s.name === row.name);
  if (!step) return {};
  const claimed = await claimStep(env.DB, run.id, row.name, now, now + LEASE_MS);
  if (!claimed) return {};
  const attempt = claimed.attempts;

  const loaded = await loadWorkTenant(env, run.tenant_id, run.key_id);
  if ("error" in loaded) {
    await stepFailedForGood(env, run.id, claimed, loaded.error, attempt, clock());
    return {};
  }
  const { tenant } = loaded;
  const hints = RunHintsSchema.parse(JSON.parse(run.hints_json));
  const stored = {
    ...hints,
    task: step.task ?? hints.task,
    tier: step.tier ?? hints.tier,
    cache: step.cacheable ? hints.cache : ("no-store" as const),
  };
  const remaining = Math.min(step.timeout_s * 1000, run.deadline_at - now);
  const result = await runWorkCall(env, x.waitUntil, {
    ownerId: stepOwnerId(run.id, step.name),
    attempt,
    endpoint: "/v1/workflows",
    tenant,
    hints: attemptHints(stored, run.lane, remaining),
    simFault: hints.stepFaults?.[step.name] ?? hints.simFault,
    session: storedSession(hints),
    request: await buildRequest(env.DB, run, step),
    detail: { run_id: run.id, workflow: run.workflow_name, step: step.name },
    heartbeat: stepHeartbeat(env.DB, run.id, step.name, attempt, clock),
  });
  const settle = (s: Parameters<typeof settleStepStatement>[5], at: number) => [settleStepStatement(env.DB, run.id, step.name, ["running"], attempt, s, at)];

  const later = clock();
  if (result.ok) {
    // The step's output and the attempt's ledger row are one D1 batch.
    const settled = await commitAttempt(env.DB, result.record, settle({
      status: "succeeded",
      output: completionText(result.completion),
      model: result.meta.model,
      tier: result.meta.tier,
      cache: result.meta.cache,
    }, later));
    if (settled) await advanceRun(env, run.id, later);
    return {};
  }
  if (later >= run.deadline_at) {
    // The run's deadline cut this call short: the run ends with what it has.
    await commitAttempt(env.DB, result.record, settle({ status: "failed", error: errorRecord(result.error) }, later));
    await timeOutRun(env, run.id, later);
    return {};
  }
  const canRetry = result.retryable && attempt < step.max_attempts && deliveryAttempt < LANE_SETTINGS[run.lane].maxAttempts;
  const delayS = retryDelayS(run.lane, attempt, result.retryAfterS);
  if (canRetry && (await commitAttempt(env.DB, result.record, settle({ status: "queued", error: errorRecord(result.error), finished: false, dueInS: delayS }, later)))) {
    return { retryDelayS: delayS };
  }
  // The attempt is recorded first; then the step is skipped or fails the run.
  if (!canRetry) await commitAttempt(env.DB, result.record);
  await stepFailedForGood(env, run.id, claimed, result.error, attempt, later, result.retryable);
  return {};
}
