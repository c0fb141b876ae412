import { describe, expect, it } from "vitest";
import { assertInputCovers, renderTemplate, WorkflowDefinitionSchema } from "../../src/jobs/workflow-definition";

const issues = (def: unknown) => {
  const result = WorkflowDefinitionSchema.safeParse(def);
  return result.success ? [] : result.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
};

describe("workflow definitions", () => {
  it("fills defaults for a valid graph", () => {
    const def = WorkflowDefinitionSchema.parse({
      steps: [
        { name: "a", prompt: "About {{input.topic}}" },
        { name: "b", prompt: "Use {{steps.a.output}}", depends_on: ["a"] },
        { name: "c", prompt: "Both: {{steps.a.output}} {{steps.b.output}}", depends_on: ["b"] },
      ],
    });
    expect(def.deadline_s).toBe(900);
    expect(def.steps[0]).toMatchObject({ model: "auto", timeout_s: 120, max_attempts: 2, optional: false, cacheable: true, depends_on: [] });
  });

  it("rejects cycles, unknown dependencies, duplicates and references to steps that are not ancestors", () => {
    expect(issues({ steps: [{ name: "a", prompt: "x", depends_on: ["b"] }, { name: "b", prompt: "y", depends_on: ["a"] }] }).join()).toMatch(/cycle/);
    expect(issues({ steps: [{ name: "a", prompt: "x", depends_on: ["zz"] }] }).join()).toMatch(/steps.0.depends_on.0: 'zz' is not another step/);
    expect(issues({ steps: [{ name: "a", prompt: "x" }, { name: "a", prompt: "y" }] }).join()).toMatch(/duplicate step name/);
    expect(issues({ steps: [{ name: "a", prompt: "x" }, { name: "b", prompt: "{{steps.a.output}}" }] }).join()).toMatch(/needs 'a' in depends_on/);
    expect(issues({ steps: [{ name: "a", prompt: "{{ secrets.key }}" }] }).join()).toMatch(/unknown placeholder/);
    expect(issues({ steps: [{ name: "a", prompt: "x", max_attempts: 9 }] }).join()).toMatch(/max_attempts/);
  });

  it("renders inputs and outputs, and insists the input covers every reference", () => {
    const outputs = new Map([["a", "AAA"]]);
    expect(renderTemplate("T={{ input.topic }} N={{input.meta.n}} A={{steps.a.output}}", { topic: "tolls", meta: { n: 3 } }, outputs)).toBe("T=tolls N=3 A=AAA");
    const def = WorkflowDefinitionSchema.parse({ steps: [{ name: "a", prompt: "{{input.topic}} {{input.meta.n}}" }] });
    expect(() => assertInputCovers(def, { topic: "x" })).toThrowError(expect.objectContaining({ status: 400, param: "input.meta.n" }));
    expect(() => assertInputCovers(def, { topic: "x", meta: { n: 1 } })).not.toThrow();
  });
});
