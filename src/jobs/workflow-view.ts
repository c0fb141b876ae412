import type { WorkflowDefinition } from "./workflow-definition";
import type { RunRow, StepRow } from "./workflow-store";

function parsed(json: string | null): unknown {
  return json === null ? null : (JSON.parse(json) as unknown);
}

/** GET /v1/workflow-runs/:id: every step's state, output, tier, cache and cost; the run's total. */
export function runView(run: RunRow, steps: StepRow[], costs: Map<string, number>, definition: WorkflowDefinition) {
  const defs = new Map(definition.steps.map((s) => [s.name, s]));
  const stepViews = steps.map((step) => ({
    name: step.name,
    status: step.status,
    depends_on: defs.get(step.name)?.depends_on ?? [],
    optional: defs.get(step.name)?.optional ?? false,
    attempts: step.attempts,
    max_attempts: step.max_attempts,
    output: step.output,
    model: step.model,
    tier: step.tier,
    cache: step.cache,
    cost_usd: costs.get(step.name) ?? 0,
    error: parsed(step.error_json),
    note: step.note,
    started_at: step.started_at,
    finished_at: step.finished_at,
  }));
  const finished = stepViews.filter((s) => s.status === "succeeded").length;
  return {
    id: run.id,
    object: "workflow.run" as const,
    workflow: run.workflow_name,
    workflow_version: run.workflow_version,
    status: run.status,
    priority: run.lane,
    input: parsed(run.input_json),
    error: parsed(run.error_json),
    cost_usd: [...costs.values()].reduce((sum, cost) => sum + cost, 0),
    // A run that did not succeed still returns what its finished steps produced.
    partial: run.status !== "running" && run.status !== "succeeded" && finished > 0,
    created_at: run.created_at,
    deadline_at: run.deadline_at,
    finished_at: run.finished_at,
    steps: stepViews,
    url: `/v1/workflow-runs/${run.id}`,
  };
}
