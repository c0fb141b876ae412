import * as z from "zod";
import { TierChoiceSchema } from "../config/tenant-policy";
import { GatewayError } from "../errors";

const NAME = /^[A-Za-z0-9_-]{1,32}$/;
export const WorkflowNameSchema = z.string().regex(NAME, "must be 1-32 of A-Z a-z 0-9 _ -");
const StepNameSchema = z.string().regex(NAME, "must be 1-32 of A-Z a-z 0-9 _ -");

export const MAX_STEPS = 20;
// Step attempts ride on queue redeliveries, so they cannot exceed the lane's max_retries + 1.
export const MAX_STEP_ATTEMPTS = 4;

export const WorkflowStepSchema = z
  .object({
    name: StepNameSchema,
    /** `{{input.<field>}}` and `{{steps.<name>.output}}` are replaced when the step runs. */
    prompt: z.string().min(1).max(32_000),
    system: z.string().max(16_000).optional(),
    model: z.string().min(1).max(256).default("auto"),
    task: z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, "must be 1-64 of A-Z a-z 0-9 _ . : -").optional(),
    tier: TierChoiceSchema.optional(),
    timeout_s: z.number().int().min(1).max(900).default(120),
    max_attempts: z.number().int().min(1).max(MAX_STEP_ATTEMPTS).default(2),
    /** A failed optional step is skipped (its output is empty) and the run goes on. */
    optional: z.boolean().default(false),
    /** false sends the call with x-tollgate-cache: no-store. */
    cacheable: z.boolean().default(true),
    depends_on: z.array(StepNameSchema).max(MAX_STEPS).default([]),
    max_tokens: z.number().int().positive().max(100_000).optional(),
    temperature: z.number().min(0).max(2).optional(),
  })
  .strict();
export type WorkflowStep = z.infer<typeof WorkflowStepSchema>;

const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;
const INPUT_REF = /^input((?:\.[A-Za-z0-9_-]+)+)$/;
const STEP_REF = /^steps\.([A-Za-z0-9_-]{1,32})\.output$/;

/** Every placeholder in a template, classified; unknown ones are reported, not silently left in. */
export function templateRefs(template: string): { inputs: string[][]; steps: string[]; unknown: string[] } {
  const refs = { inputs: [] as string[][], steps: [] as string[], unknown: [] as string[] };
  for (const match of template.matchAll(PLACEHOLDER)) {
    const inner = match[1] ?? "";
    const input = inner.match(INPUT_REF);
    const step = inner.match(STEP_REF);
    if (input?.[1]) refs.inputs.push(input[1].slice(1).split("."));
    else if (step?.[1]) refs.steps.push(step[1]);
    else refs.unknown.push(inner);
  }
  return refs;
}

function ancestorsOf(steps: WorkflowStep[]): Map<string, Set<string>> {
  const byName = new Map(steps.map((s) => [s.name, s]));
  const memo = new Map<string, Set<string>>();
  const visit = (name: string, trail: string[]): Set<string> => {
    const cached = memo.get(name);
    if (cached) return cached;
    if (trail.includes(name)) throw new Error(`depends_on has a cycle: ${[...trail, name].join(" -> ")}`);
    const result = new Set<string>();
    for (const dep of byName.get(name)?.depends_on ?? []) {
      result.add(dep);
      for (const a of visit(dep, [...trail, name])) result.add(a);
    }
    memo.set(name, result);
    return result;
  };
  for (const step of steps) visit(step.name, []);
  return memo;
}

export const WorkflowDefinitionSchema = z
  .object({
    description: z.string().max(1000).optional(),
    /** The whole run's deadline; past it the run ends as timed_out, keeping what finished. */
    deadline_s: z.number().int().min(1).max(86_400).default(900),
    steps: z.array(WorkflowStepSchema).min(1).max(MAX_STEPS),
  })
  .strict()
  .superRefine((def, ctx) => {
    const names = new Set<string>();
    def.steps.forEach((step, i) => {
      if (names.has(step.name)) ctx.addIssue({ code: "custom", path: ["steps", i, "name"], message: `duplicate step name '${step.name}'` });
      names.add(step.name);
    });
    def.steps.forEach((step, i) => {
      step.depends_on.forEach((dep, j) => {
        if (!names.has(dep) || dep === step.name) ctx.addIssue({ code: "custom", path: ["steps", i, "depends_on", j], message: `'${dep}' is not another step of this workflow` });
      });
    });
    if (def.steps.length !== names.size) return;
    let ancestors: Map<string, Set<string>>;
    try {
      ancestors = ancestorsOf(def.steps);
    } catch (error) {
      ctx.addIssue({ code: "custom", path: ["steps"], message: error instanceof Error ? error.message : "depends_on has a cycle" });
      return;
    }
    def.steps.forEach((step, i) => {
      const refs = templateRefs(`${step.system ?? ""}\n${step.prompt}`);
      for (const bad of refs.unknown) ctx.addIssue({ code: "custom", path: ["steps", i, "prompt"], message: `unknown placeholder {{${bad}}}; use {{input.<field>}} or {{steps.<name>.output}}` });
      for (const ref of refs.steps) {
        if (!ancestors.get(step.name)?.has(ref)) ctx.addIssue({ code: "custom", path: ["steps", i, "prompt"], message: `{{steps.${ref}.output}} needs '${ref}' in depends_on (directly or through another step)` });
      }
    });
  });
export type WorkflowDefinition = z.infer<typeof WorkflowDefinitionSchema>;

export function parseDefinition(json: string): WorkflowDefinition {
  return WorkflowDefinitionSchema.parse(JSON.parse(json));
}

function lookup(input: unknown, path: string[]): unknown {
  let value: unknown = input;
  for (const key of path) {
    if (value === null || typeof value !== "object" || Array.isArray(value)) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

/** Fails the run request (400) up front when a step needs an input field that is not there. */
export function assertInputCovers(def: WorkflowDefinition, input: Record<string, unknown>): void {
  for (const step of def.steps) {
    for (const path of templateRefs(`${step.system ?? ""}\n${step.prompt}`).inputs) {
      if (lookup(input, path) === undefined) throw GatewayError.invalid(`input.${path.join(".")} is required by step '${step.name}'`, `input.${path.join(".")}`);
    }
  }
}

export function renderTemplate(template: string, input: Record<string, unknown>, outputs: Map<string, string>): string {
  return template.replace(PLACEHOLDER, (whole, inner: string) => {
    const inputPath = inner.match(INPUT_REF)?.[1];
    if (inputPath) {
      const value = lookup(input, inputPath.slice(1).split("."));
      return typeof value === "string" ? value : value === undefined ? "" : JSON.stringify(value);
    }
    const step = inner.match(STEP_REF)?.[1];
    return step ? (outputs.get(step) ?? "") : whole;
  });
}
