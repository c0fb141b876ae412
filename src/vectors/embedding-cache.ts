import { sha256Hex } from "../auth/key-hash";
import type { CatalogModel } from "../config/model-catalog";
import { embedOnce } from "../providers/call-provider";
import type { ProviderInstance } from "../providers/provider-registry";
import type { ProviderFailure, Result } from "../providers/provider-types";

const TTL_S = 7 * 24 * 3600;

export interface CachedEmbeddings {
  vectors: number[][];
  /** Tokens actually sent upstream (cache hits cost nothing). */
  promptTokens: number;
  hits: number;
}

// An embedding depends only on model and text, but entries are still kept per tenant: a shared entry
// would let one tenant learn, from a cache hit (cost $0, x-tollgate-cache: exact), that another tenant
// embedded exactly that text. The scope is the tenant id.
const entryKey = async (model: CatalogModel, text: string, scope: string) => `emb:${scope}:${model.id}:${await sha256Hex(text)}`;

/** Embeds through KV: only the inputs never seen before go to the provider. */
export async function embedWithCache(
  kv: KVNamespace,
  instance: ProviderInstance,
  model: CatalogModel,
  inputs: string[],
  signal: AbortSignal,
  scope: string,
): Promise<Result<CachedEmbeddings, ProviderFailure>> {
  const keys = await Promise.all(inputs.map((text) => entryKey(model, text, scope)));
  const cached = await Promise.all(keys.map((key) => kv.get<number[]>(key, "json").catch(() => null)));
  const missing = inputs.flatMap((text, i) => (cached[i] ? [] : [{ text, i }]));
  const vectors = cached.map((vector) => vector ?? []);
  let promptTokens = 0;
  if (missing.length) {
    const result = await embedOnce(instance, model.upstream, missing.map((m) => m.text), signal);
    if (!result.ok) return result;
    if (result.value.vectors.length !== missing.length) {
      return { ok: false, error: { kind: "malformed", retryable: false, message: `${instance.name}: wrong number of embeddings` } };
    }
    promptTokens = result.value.promptTokens;
    await Promise.all(
      missing.map(({ i }, j) => {
        const vector = result.value.vectors[j] ?? [];
        vectors[i] = vector;
        return kv.put(keys[i] ?? "", JSON.stringify(vector), { expirationTtl: TTL_S }).catch(() => undefined);
      }),
    );
  }
  return { ok: true, value: { vectors, promptTokens, hits: inputs.length - missing.length } };
}
