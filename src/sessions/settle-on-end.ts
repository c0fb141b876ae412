import { GatewayError } from "../errors";
import type { SessionCaller, SessionTicket } from "./session-gate";
import { formatRemaining } from "./session-types";

/** The part of a chat outcome the session needs: where the header goes, and when a stream has ended. */
interface Outcome {
  meta: { sessionRemaining?: string };
  done?: Promise<unknown>;
}

/**
 * Settles the request's session step (opened inside the pipeline, kept on `caller.session.ticket`)
 * from its ledger row, whichever way the request ends: at once for an answer or an error, after the
 * last chunk for a stream. The response carries what is left of the session.
 */
export async function settleOnEnd<T extends Outcome>(caller: SessionCaller & { session?: { ticket?: SessionTicket } }, run: Promise<T>): Promise<T> {
  const settle = (status: number) => {
    const ticket = caller.session?.ticket;
    const event = caller.ledger.event;
    if (!ticket) return undefined;
    return ticket.settle({ costUsd: event.cost_usd, tokens: event.prompt_tokens + event.completion_tokens, latencyMs: caller.ledger.elapsedMs(), status, cache: event.cache });
  };
  let outcome: T;
  try {
    outcome = await run;
  } catch (error) {
    const remaining = settle(error instanceof GatewayError ? error.status : 500);
    if (remaining && error instanceof GatewayError) Object.assign(error.headers, { "x-tollgate-session-remaining": formatRemaining(remaining) });
    throw error;
  }
  const ticket = caller.session?.ticket;
  if (!ticket) return outcome;
  if (outcome.done) {
    // A stream's header goes out before its last token: it shows the step's reservation still held.
    outcome.meta.sessionRemaining = ticket.remainingHeader();
    caller.waitUntil(outcome.done.then(() => settle(caller.ledger.event.status >= 400 ? caller.ledger.event.status : 200), () => settle(502)));
    return outcome;
  }
  const remaining = settle(200);
  if (remaining) outcome.meta.sessionRemaining = formatRemaining(remaining);
  return outcome;
}
