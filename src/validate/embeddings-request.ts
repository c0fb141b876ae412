import * as z from "zod";

export const EmbeddingsRequestSchema = z
  .object({
    model: z.string().min(1).max(256),
    input: z.union([z.string().min(1).max(100_000), z.array(z.string().min(1).max(100_000)).min(1).max(2048)]),
    encoding_format: z.enum(["float", "base64"]).optional(),
    user: z.string().max(256).optional(),
  })
  .loose();
export type EmbeddingsRequest = z.infer<typeof EmbeddingsRequestSchema>;

/**
 * An embeddings request kept as queued work (an OpenAI batch line for /v1/embeddings): tagged, so a
 * stored request is never mistaken for a chat one.
 */
export const EmbeddingsWorkSchema = z.object({
  kind: z.literal("embeddings"),
  model: z.string().min(1).max(256),
  input: z.union([z.string().min(1).max(100_000), z.array(z.string().min(1).max(100_000)).min(1).max(2048)]),
  encoding_format: z.enum(["float", "base64"]).optional(),
});
export type EmbeddingsWork = z.infer<typeof EmbeddingsWorkSchema>;

export const inputsOf = (req: Pick<EmbeddingsRequest, "input">): string[] => (typeof req.input === "string" ? [req.input] : req.input);

/** Queued work is a chat request unless it is tagged as embeddings. */
export function isEmbeddingsWork<T extends object>(request: T | EmbeddingsWork): request is EmbeddingsWork {
  return (request as { kind?: unknown }).kind === "embeddings";
}
