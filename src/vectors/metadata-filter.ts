import * as z from "zod";

/** What a vector may carry besides its values: flat scalars, as Vectorize stores them. */
export type MetadataValue = string | number | boolean;
export type VectorMetadata = Record<string, MetadataValue>;

const ScalarSchema = z.union([z.string().max(512), z.number(), z.boolean()]);

/**
 * The subset of Vectorize's metadata filter both stores implement: equality, `$ne`, `$in`, `$nin`,
 * combined with AND across keys. Anything richer would work on one store and not the other.
 */
export const MetadataFilterSchema = z
  .record(
    z.string().min(1).max(64).regex(/^[A-Za-z0-9_-]+$/, "metadata keys are letters, digits, _ and -"),
    z.union([
      ScalarSchema,
      z.object({ $eq: ScalarSchema }).strict(),
      z.object({ $ne: ScalarSchema }).strict(),
      z.object({ $in: z.array(ScalarSchema).min(1).max(32) }).strict(),
      z.object({ $nin: z.array(ScalarSchema).min(1).max(32) }).strict(),
    ]),
  )
  .refine((filter) => Object.keys(filter).length <= 8, "at most 8 filter keys");
export type MetadataFilter = z.infer<typeof MetadataFilterSchema>;

/** The same test Vectorize applies inside its search, for the local store. */
export function matchesFilter(metadata: VectorMetadata, filter: MetadataFilter): boolean {
  for (const [key, condition] of Object.entries(filter)) {
    const value = metadata[key];
    if (typeof condition !== "object") {
      if (value !== condition) return false;
    } else if ("$eq" in condition) {
      if (value !== condition.$eq) return false;
    } else if ("$ne" in condition) {
      if (value === condition.$ne) return false;
    } else if ("$in" in condition) {
      if (value === undefined || !condition.$in.includes(value)) return false;
    } else if (value !== undefined && condition.$nin.includes(value)) return false;
  }
  return true;
}
