import { Hono } from "hono";
import type { AppEnv } from "../hono-env";
import { availableCatalog } from "../providers/provider-registry";

const CREATED = 1_735_689_600; // 2025-01-01: the catalog has no per-model dates; OpenAI clients want a number.

export const modelsRoutes = new Hono<AppEnv>().get("/models", (c) => {
  const { allowed_models: allowed, residency } = c.var.tenant.policy;
  const data = availableCatalog(c.env)
    .filter((m) => (!allowed || allowed.includes(m.id)) && (!residency || m.regions.includes(residency)))
    .map((m) => ({
      id: m.id,
      object: "model",
      created: CREATED,
      owned_by: m.provider,
      kind: m.kind,
      tier: m.tier,
      price_per_mtok: { input: m.input_per_mtok, output: m.output_per_mtok },
      context_window: m.context_window,
      private: m.private,
      regions: m.regions,
    }));
  return c.json({ object: "list", data });
});
