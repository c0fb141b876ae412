import type { Context } from "hono";
import type { AppEnv } from "../hono-env";

/** One `data:` event: JSON text has no raw line breaks, so it is always one line. */
export const sseData = (data: string): string => `data: ${data}\n\n`;

/** One named event (Anthropic's and the Responses API's streams name every event). */
export const sseEvent = (event: string, data: string): string => `event: ${event}\ndata: ${data}\n\n`;

// How long (in microtask turns, not time) an event already on its way may take to be coalesced with
// the one before it. Events a provider sent in one network read reach here through a few async
// generators in a handful of turns; an event that needs the network does not, and goes out alone.
const COALESCE_TURNS = 32;
const LATER = Symbol("later");

function afterTurns(n: number): Promise<typeof LATER> {
  let turn: Promise<unknown> = Promise.resolve();
  for (let i = 0; i < n; i++) turn = turn.then(() => undefined);
  return turn.then(() => LATER);
}

/**
 * A text/event-stream response pulled straight from an async generator of encoded events: one
 * ReadableStream between the generator and the client, where hono's streamSSE puts a TransformStream
 * and a second ReadableStream (and a writer promise per event). Events that are ready together go out
 * as one write. The client going away returns the generator (and `onCancel` lets the route return the
 * stream under it at once, as before).
 */
export function sseResponse(c: Context<AppEnv>, events: AsyncGenerator<string, void, void>, onCancel?: () => void): Response {
  const encoder = new TextEncoder();
  let ahead: Promise<IteratorResult<string, void>> | undefined;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      let next: IteratorResult<string, void>;
      try {
        next = await (ahead ?? events.next());
        ahead = undefined;
      } catch (error) {
        // As streamSSE did: a route's unexpected failure is logged and the stream ends cleanly.
        console.error(error);
        controller.close();
        return;
      }
      let text = "";
      while (!next.done) {
        text += next.value;
        const following = events.next();
        let ready: IteratorResult<string, void> | typeof LATER;
        try {
          ready = await Promise.race([following, afterTurns(COALESCE_TURNS)]);
        } catch {
          ready = LATER; // the failure is met on the next pull, after what came before it is out
        }
        if (ready === LATER) {
          following.catch(() => undefined);
          ahead = following;
          break;
        }
        next = ready;
      }
      if (text) controller.enqueue(encoder.encode(text));
      if (next.done) controller.close();
    },
    async cancel() {
      onCancel?.();
      await events.return(undefined);
    },
  });
  c.header("Transfer-Encoding", "chunked");
  c.header("Content-Type", "text/event-stream");
  c.header("Cache-Control", "no-cache");
  c.header("Connection", "keep-alive");
  return c.body(body);
}
