import { createMiddleware } from "hono/factory";
import type { StoredResponse } from "../../durable-objects/idempotency-store";
import { sha256Hex } from "../auth/key-hash";
import { GatewayError } from "../errors";
import type { AppEnv } from "../hono-env";
import { tenantObject } from "../config/tenant-objects";

const MAX_KEY_LENGTH = 255;
const WAIT_STEP_MS = 100;
const MAX_WAIT_MS = 120_000;
/** Larger answers are served but not stored: a Durable Object row holds at most 2 MB. */
const MAX_STORED_BYTES = 1_500_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function replay(stored: StoredResponse, requestId: string): Response {
  const headers = new Headers(stored.headers);
  headers.set("x-tollgate-idempotent-replay", "true");
  headers.set("x-request-id", requestId);
  return new Response(stored.body, { status: stored.status, headers });
}

/**
 * `Idempotency-Key` on POST: the same key and body within 24 h get the stored response and are billed
 * once; concurrent duplicates wait for the first; the same key with another body is a 409.
 */
export const idempotency = createMiddleware<AppEnv>(async (c, next) => {
  const key = c.req.header("idempotency-key");
  if (!key) return next();
  if (key.length > MAX_KEY_LENGTH) throw GatewayError.invalid(`Idempotency-Key is longer than ${MAX_KEY_LENGTH} characters`, "idempotency-key");
  const tenantId = c.var.tenant.tenantId;
  const stub = tenantObject(c.env.IDEMPOTENCY, tenantId, c.var.tenant.policy.residency);
  // The route is part of the key: the same key on two endpoints is two operations.
  const scopedKey = `${c.req.path}\u0000${key}`;
  const bodyHash = await sha256Hex(await c.req.text());
  const ledger = c.var.ledger.event;

  for (let waited = 0; ; waited += WAIT_STEP_MS) {
    const claim = await stub.begin(scopedKey, bodyHash);
    if (claim.status === "conflict") throw new GatewayError(409, "idempotency_conflict", "This Idempotency-Key was already used with a different request body", "idempotency-key");
    if (claim.status === "done") {
      ledger.status = claim.response.status;
      ledger.detail = { idempotent_replay: true };
      return replay(claim.response, c.var.requestId);
    }
    if (claim.status === "new") break;
    if (waited >= MAX_WAIT_MS) throw new GatewayError(409, "idempotency_conflict", "A request with this Idempotency-Key is still in progress", "idempotency-key");
    await sleep(WAIT_STEP_MS);
  }

  try {
    await next();
  } catch (error) {
    await stub.release(scopedKey);
    throw error;
  }
  const response = c.res;
  if (response.status >= 300 || !response.body) {
    // Errors are not remembered, so a client can retry with the same key once the cause is gone.
    c.executionCtx.waitUntil(stub.release(scopedKey));
    return;
  }
  const headers = Object.fromEntries([...response.headers].filter(([name]) => name === "content-type" || name.startsWith("x-tollgate-")));
  const store = (body: string) =>
    body.length <= MAX_STORED_BYTES ? stub.complete(scopedKey, { status: response.status, headers, body }) : stub.release(scopedKey);
  if (!response.headers.get("content-type")?.startsWith("text/event-stream")) {
    // A JSON answer is complete already: store it before answering, so duplicates never wait on the client.
    const body = await response.text();
    await store(body);
    c.res = new Response(body, response);
    return;
  }
  // A stream is stored as it passes through, once it has ended.
  const decoder = new TextDecoder();
  const seen: string[] = [];
  const recorder = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      seen.push(decoder.decode(chunk, { stream: true }));
      controller.enqueue(chunk);
    },
    flush() {
      c.executionCtx.waitUntil(store(seen.join("") + decoder.decode()).catch(() => stub.release(scopedKey)));
    },
  });
  c.res = new Response(response.body.pipeThrough(recorder), response);
});
