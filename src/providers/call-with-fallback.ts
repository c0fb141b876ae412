import type { CatalogModel } from "../config/model-catalog";
import type { Span } from "../telemetry/span";
import type { ChatRequest } from "../validate/chat-request";
import { chatOnce, type StartedStream, streamOnce } from "./call-provider";
import type { ProviderInstance } from "./provider-registry";
import type { ChatCompletion, ProviderFailure, ResponseIds } from "./provider-types";

/** Where breaker state is read (an in-isolate view) and outcomes reported (off the hot path). */
export interface BreakerGate {
  isOpen(key: string): boolean;
  report(key: string, ok: boolean): void;
  /** An attempt that ended without saying anything about the provider: a probe slot it held is freed. */
  release?(key: string): void;
}

export const breakerKey = (model: CatalogModel): string => `${model.provider}:${model.upstream}`;

export interface AttemptRecord {
  model: string;
  provider: string;
  ok: boolean;
  kind?: ProviderFailure["kind"];
  status?: number;
  ms: number;
}

export interface ChainOptions {
  instances: Map<string, ProviderInstance>;
  chain: CatalogModel[];
  req: ChatRequest;
  stream: boolean;
  ids: ResponseIds;
  deadlineAt: number;
  attemptTimeoutMs: number;
  /** For streams: time to the first chunk, and the longest gap between chunks. */
  firstTokenTimeoutMs: number;
  idleTimeoutMs: number;
  maxAttemptsPerModel: number;
  breaker: BreakerGate;
  /** The client's request: when it goes away the chain stops, and nothing is held against a provider. */
  clientSignal?: AbortSignal;
  /** Asked before each model: false skips it (the budget cannot cover it), and it is named in `budgetSkipped`. */
  afford?: (model: CatalogModel) => Promise<boolean>;
  /** Opens a span for each model the chain tries (its retries included); absent when tracing is off. */
  traceModel?: (model: CatalogModel, baseUrl: string) => Span;
  /** Ends a model's span as failed: the last failure, and how many attempts it took. */
  traceFailure?: (span: Span, failure: ProviderFailure | undefined, attempts: number) => void;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  now?: () => number;
}

export type ChainSuccess = {
  model: CatalogModel;
  attempts: AttemptRecord[];
  /** Candidates passed over because their breaker was open. */
  skipped: string[];
  /** Candidates passed over because the budget could not cover their worst case. */
  budgetSkipped: string[];
  /** The answering model's span, still open: the caller ends it with the answer (a stream, when it ends). */
  span?: Span;
} & ({ completion: ChatCompletion; stream?: undefined } | { stream: StartedStream; completion?: undefined });

export interface ChainFailure {
  attempts: AttemptRecord[];
  last?: ProviderFailure;
  /** Every candidate was skipped because its breaker is open. */
  allOpen: boolean;
  budgetSkipped: string[];
  deadlineExceeded: boolean;
}

const BACKOFF_BASE_MS = 100;
export const BACKOFF_CAP_MS = 2_000;

/** Exponential backoff with full jitter; a server's Retry-After is a floor, never ignored. */
export function backoffMs(retry: number, retryAfterMs: number | undefined, random: () => number): number {
  const jitter = random() * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** retry);
  return retryAfterMs === undefined ? jitter : Math.max(jitter, retryAfterMs);
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Why an attempt was cut short, when it was: only the attempt's own full timeout is the provider's doing. */
type AbortCause = "attempt-timeout" | "deadline" | "client" | undefined;

/**
 * Which failures say something about the provider's health. Breakers are shared by every tenant, so
 * nothing a client controls may move them: its deadline (an attempt cut short by it), its going away,
 * or a request the provider rejects as invalid (any other 4xx than 401, 403, 408 and 429).
 */
export function countsAgainstProvider(failure: ProviderFailure, cause: AbortCause): boolean {
  if (cause === "client" || cause === "deadline") return false;
  // 401/403 are about the gateway's own provider credentials, which no client controls.
  if (failure.kind === "http") return failure.status === undefined || failure.status >= 500 || [401, 403, 408, 429].includes(failure.status);
  return true;
}

export async function callWithFallback(options: ChainOptions): Promise<{ ok: true; value: ChainSuccess } | { ok: false; error: ChainFailure }> {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? defaultSleep;
  const random = options.random ?? Math.random;
  const attempts: AttemptRecord[] = [];
  let last: ProviderFailure | undefined;
  const skipped: string[] = [];
  const budgetSkipped: string[] = [];

  for (const model of options.chain) {
    const instance = options.instances.get(model.provider);
    if (!instance) continue;
    const key = breakerKey(model);
    if (options.breaker.isOpen(key)) {
      skipped.push(model.id);
      continue;
    }
    if (options.afford && !(await options.afford(model))) {
      options.breaker.release?.(key);
      budgetSkipped.push(model.id);
      continue;
    }
    const span = options.traceModel?.(model, instance.baseUrl);
    let tries = 0;
    const endSpan = (failure = last) => span && options.traceFailure?.(span, failure, tries);
    for (let retry = 0; retry < options.maxAttemptsPerModel; retry++) {
      const remaining = options.deadlineAt - now();
      if (remaining <= 0) {
        endSpan({ kind: "timeout", retryable: false, message: "the request deadline passed" });
        return { ok: false, error: { attempts, last, allOpen: false, deadlineExceeded: true, budgetSkipped } };
      }
      tries++;
      // Up to the first chunk (or the whole answer) an attempt has its own timeout; after the first chunk
      // a stream is bounded by the idle timeout between chunks and by the request deadline.
      const firstByte = new AbortController();
      const ownLimit = options.stream ? options.firstTokenTimeoutMs : options.attemptTimeoutMs;
      const limit = Math.min(ownLimit, remaining);
      // An attempt whose own timeout was shortened by the request's deadline says nothing about the provider.
      const clipped = limit < ownLimit;
      const timer = setTimeout(() => firstByte.abort(new DOMException(`no answer within ${limit} ms`, "TimeoutError")), limit);
      const deadline = AbortSignal.timeout(remaining);
      const signals = [firstByte.signal, deadline, ...(options.clientSignal ? [options.clientSignal] : [])];
      const signal = AbortSignal.any(signals);
      const started = now();
      const attemptOptions = { ids: { ...options.ids, model: model.id }, signal, idleTimeoutMs: options.idleTimeoutMs };
      const result = options.stream
        ? await streamOnce(instance, model, options.req, attemptOptions)
        : await chatOnce(instance, model, options.req, attemptOptions);
      clearTimeout(timer);
      const record: AttemptRecord = { model: model.id, provider: model.provider, ok: result.ok, ms: now() - started };
      attempts.push(record);
      if (result.ok) {
        options.breaker.report(key, true);
        const value = result.value;
        return { ok: true, value: "first" in value ? { model, attempts, skipped, budgetSkipped, span, stream: value } : { model, attempts, skipped, budgetSkipped, span, completion: value } };
      }
      const failure = result.error;
      record.kind = failure.kind;
      record.status = failure.status;
      last = failure;
      const cause: AbortCause = options.clientSignal?.aborted ? "client" : deadline.aborted || (firstByte.signal.aborted && clipped) ? "deadline" : firstByte.signal.aborted ? "attempt-timeout" : undefined;
      if (countsAgainstProvider(failure, cause)) options.breaker.report(key, false);
      else options.breaker.release?.(key);
      if (cause === "client") {
        endSpan();
        return { ok: false, error: { attempts, last, allOpen: false, deadlineExceeded: false, budgetSkipped } };
      }
      if (!failure.retryable || retry + 1 >= options.maxAttemptsPerModel) break;
      const wait = backoffMs(retry, failure.retryAfterMs, random);
      // A wait that would outlive the deadline is better spent on the next model.
      if (now() + wait >= options.deadlineAt) break;
      await sleep(wait);
    }
    endSpan();
  }
  const deadlineExceeded = now() >= options.deadlineAt;
  return { ok: false, error: { attempts, last, allOpen: skipped.length > 0 && attempts.length === 0, deadlineExceeded, budgetSkipped } };
}
