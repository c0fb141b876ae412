import type { Context } from "hono";
import type { z } from "zod";
import { GatewayError } from "../errors";

/** OpenAI-style parameter path: messages[0].content */
export function paramPath(path: readonly PropertyKey[]): string | null {
  if (path.length === 0) return null;
  return path
    .map((part, i) => (typeof part === "number" ? `[${part}]` : `${i === 0 ? "" : "."}${String(part)}`))
    .join("");
}

/** Reads a JSON body and validates it; every failure becomes a 400 that names the field. */
export async function parseJsonBody<S extends z.ZodType>(c: Context, schema: S): Promise<z.infer<S>> {
  const type = c.req.header("content-type") ?? "";
  if (!/^application\/(.+\+)?json\b/i.test(type.trim())) {
    throw GatewayError.invalid("Content-Type must be application/json");
  }
  let raw: unknown;
  try {
    raw = JSON.parse(await c.req.text());
  } catch {
    throw GatewayError.invalid("Request body is not valid JSON");
  }
  return validate(schema, raw);
}

export function validate<S extends z.ZodType>(schema: S, raw: unknown): z.infer<S> {
  const result = schema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0];
    const param = issue ? paramPath(issue.path) : null;
    throw GatewayError.invalid(`${param ?? "body"}: ${issue?.message ?? "invalid"}`, param);
  }
  return result.data;
}
