import { ulid } from "../unique-id";
import { GatewayError } from "../errors";
import type { TenantContext } from "../hono-env";
import type { Lane } from "./lanes";
import { sendToDeadLetters } from "../delivery/dead-letter-store";
import { errorRecord } from "./run-work-call";
import { type WorkflowDefinition, parseDefinition } from "./workflow-definition";
import { closeRun, getRun, getSteps, type RunHints, settleStep, type StepRow } from "./workflow-store";
import { sendWork, type StepMessage } from "./work-messages";

/**
 * The coordinator of the seeds' coordinator/executor split: it never calls a model. It writes the run
 * state to D1, enqueues the steps whose dependencies are done, and closes the run. Executors call
 * advanceRun after each step, so the run moves forward one conditional UPDATE at a time.
 */
export interface StartRunInput {
  tenant: TenantContext;
  name: string;
  version: number;
  definition: WorkflowDefinition;
  input: Record<string, unknown>;
  lane: Lane;
  hints: RunHints;
  deadlineS?: number;
  runId?: string;
}

export async function startRun(env: Env, x: StartRunInput, now = Date.now()): Promise<string> {
  const runId = x.runId ?? `wfr_${ulid()}`;
  const deadlineAt = now + (x.deadlineS ?? x.definition.deadline_s) * 1000;
  const insertStep = env.DB.prepare("INSERT INTO workflow_steps (run_id, name, position, status, max_attempts) VALUES (?, ?, ?, 'pending', ?)");
  await env.DB.batch([
    env.DB.prepare(
      `INSERT INTO workflow_runs (id, tenant_id, key_id, workflow_name, workflow_version, definition_json, input_json, hints_json, lane, status, created_at, deadline_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'running', ?, ?)`,
    ).bind(runId, x.tenant.tenantId, x.tenant.keyId || null, x.name, x.version, JSON.stringify(x.definition), JSON.stringify(x.input), JSON.stringify(x.hints), x.lane, now, deadlineAt),
    ...x.definition.steps.map((step, i) => insertStep.bind(runId, step.name, i, step.max_attempts)),
  ]);
  await advanceRun(env, runId, now);
  return runId;
}

const isDone = (step: StepRow | undefined) => step?.status === "succeeded" || step?.status === "skipped";

/** Enqueues every step whose dependencies are done; closes the run when every step is. */
export async function advanceRun(env: Env, runId: string, now = Date.now()): Promise<void> {
  const run = await getRun(env.DB, runId);
  if (!run || run.status !== "running") return;
  const steps = await getSteps(env.DB, runId);
  const byName = new Map(steps.map((s) => [s.name, s]));
  if (steps.every(isDone)) {
    await closeRun(env.DB, runId, "succeeded", null, now);
    return;
  }
  const definition = parseDefinition(run.definition_json);
  const messages: StepMessage[] = [];
  for (const step of definition.steps) {
    if (byName.get(step.name)?.status !== "pending" || !step.depends_on.every((dep) => isDone(byName.get(dep)))) continue;
    // Two executors finishing side by side may both see this step ready; only one wins the UPDATE.
    if (await settleStep(env.DB, runId, step.name, ["pending"], null, { status: "queued", finished: false }, now)) {
      messages.push({ type: "workflow_step", run_id: runId, step: step.name, tenant_id: run.tenant_id, lane: run.lane });
    }
  }
  const unsent = await sendWork(env, run.lane, messages);
  for (const message of unsent) {
    if (message.type === "workflow_step") await env.DB.prepare("UPDATE workflow_steps SET enqueued_at = NULL WHERE run_id = ? AND name = ?").bind(runId, message.step).run();
  }
}

/**
 * A step that will not be retried: an optional one is skipped and the run goes on without its output;
 * a required one fails the run, which keeps every output produced so far.
 */
export async function stepFailedForGood(
  env: Env,
  runId: string,
  step: StepRow,
  error: GatewayError,
  attempt: number | null,
  now = Date.now(),
  /** Retries ran out on a retryable error: keep the message in the dead-letter queue for a replay. */
  deadLetter = false,
): Promise<void> {
  const run = await getRun(env.DB, runId);
  const definition = run ? parseDefinition(run.definition_json) : null;
  const optional = definition?.steps.find((s) => s.name === step.name)?.optional ?? false;
  const from = attempt === null ? (["queued", "running"] as const) : (["running"] as const);
  const record = errorRecord(error);
  if (optional) {
    const note = `optional step skipped after ${step.attempts} attempt(s): ${record.code}: ${record.message}`;
    if (await settleStep(env.DB, runId, step.name, [...from], attempt, { status: "skipped", error: record, note }, now)) await advanceRun(env, runId, now);
    return;
  }
  if (!(await settleStep(env.DB, runId, step.name, [...from], attempt, { status: "failed", error: record }, now))) return;
  const message = `required step '${step.name}' failed: ${record.message}`;
  await closeRun(env.DB, runId, "failed", { ...record, step: step.name, message }, now);
  if (deadLetter && run) {
    const body: StepMessage = { type: "workflow_step", run_id: runId, step: step.name, tenant_id: run.tenant_id, lane: run.lane };
    await sendToDeadLetters(env, body, { queue: `jobs-${run.lane}`, tenantId: run.tenant_id, reason: message, attempts: step.attempts, now });
  }
}

export async function timeOutRun(env: Env, runId: string, now = Date.now()): Promise<boolean> {
  const error = errorRecord(new GatewayError(504, "deadline_exceeded", "The run's deadline passed; finished steps keep their outputs"));
  return closeRun(env.DB, runId, "timed_out", error, now);
}
