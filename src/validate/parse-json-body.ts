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
  if (exceedsDepth(raw, MAX_DEPTH)) throw GatewayError.invalid(`Request body is nested deeper than ${MAX_DEPTH} levels`);
  return validate(schema, raw);
}

const MAX_DEPTH = 64;

/** Iterative, so a hostile body cannot overflow the stack here or in any later JSON.stringify. */
export function exceedsDepth(value: unknown, limit: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length) {
    const [current, depth] = stack.pop() ?? [null, 0];
    if (current === null || typeof current !== "object") continue;
    if (depth >= limit) return true;
    for (const child of Array.isArray(current) ? current : Object.values(current)) stack.push([child, depth + 1]);
  }
  return false;
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
