import type { CatalogModel } from "../config/model-catalog";
import { DEFAULT_CATALOG } from "../config/model-catalog";
import { anthropicSpec } from "./anthropic-spec";
import { openaiSpec } from "./openai-spec";
import type { ProviderSpec } from "./provider-types";
import { parseFaults } from "./sim-faults";
import { simFetch } from "./sim-upstream";
import { workersAiFetch, workersAiSpec } from "./workers-ai-spec";

/** A configured provider: an adapter (data + transforms) bound to a base URL, a key and a transport. */
export interface ProviderInstance {
  name: string;
  spec: ProviderSpec;
  baseUrl: string;
  apiKey: string;
  fetch: typeof fetch;
  private: boolean;
}

export const SIM_PROVIDERS = ["sim-a", "sim-b", "sim-private"] as const;

export interface RegistryOptions {
  /** Raw x-tollgate-sim-fault header; honoured only where SIM_FAULTS is on outside production. */
  simFaultHeader?: string;
}

export function simFaultsEnabled(env: Env): boolean {
  return env.SIM_FAULTS === "on" && env.ENVIRONMENT !== "production";
}

/** Built per request from env: cheap, and it keeps secrets out of module scope. */
export function providerInstances(env: Env, options: RegistryOptions = {}): Map<string, ProviderInstance> {
  const instances = new Map<string, ProviderInstance>();
  const faults = simFaultsEnabled(env) ? parseFaults(options.simFaultHeader) : [];
  const scale = Number(env.SIM_LATENCY_SCALE);
  // The simulator is a development and test provider; production serves real models only.
  if (env.ENVIRONMENT !== "production") {
    for (const name of SIM_PROVIDERS) {
      instances.set(name, {
        name,
        spec: openaiSpec,
        baseUrl: `https://${name}.sim.invalid/v1`,
        apiKey: "",
        fetch: simFetch({ name, latencyScale: Number.isFinite(scale) ? scale : 1, faults }),
        private: name === "sim-private",
      });
    }
  }
  if (env.OPENAI_API_KEY || env.OPENAI_BASE_URL) {
    const baseUrl = env.OPENAI_BASE_URL || "https://api.openai.com/v1";
    instances.set("openai", { name: "openai", spec: openaiSpec, baseUrl, apiKey: env.OPENAI_API_KEY ?? "", fetch: (i, init) => fetch(i, init), private: false });
  }
  if (env.ANTHROPIC_API_KEY) {
    const baseUrl = env.ANTHROPIC_BASE_URL || "https://api.anthropic.com";
    instances.set("anthropic", { name: "anthropic", spec: anthropicSpec, baseUrl, apiKey: env.ANTHROPIC_API_KEY, fetch: (i, init) => fetch(i, init), private: false });
  }
  if (env.EMBEDDER_URL) {
    const baseUrl = env.EMBEDDER_URL.replace(/\/embeddings\/?$/, "");
    instances.set("local-embedder", { name: "local-embedder", spec: openaiSpec, baseUrl, apiKey: "", fetch: (i, init) => fetch(i, init), private: true });
  }
  if (env.AI) {
    instances.set("workers-ai", { name: "workers-ai", spec: workersAiSpec, baseUrl: "", apiKey: "", fetch: workersAiFetch(env.AI), private: true });
  }
  return instances;
}

/** The catalog as this deployment can serve it: models whose provider is configured. */
export function availableCatalog(env: Env): CatalogModel[] {
  const instances = providerInstances(env);
  return DEFAULT_CATALOG.filter((model) => instances.has(model.provider));
}
