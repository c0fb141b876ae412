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

type Step = IteratorResult<string, void>;
/** Text ready to go out, and the step still on its way: none once the generator is done. */
type Gathered = { text: string; ahead?: Promise<Step> };

/**
 * Whatever of `events` is ready within COALESCE_TURNS of each other, starting with `next` (waited for
 * however long it takes when `waitForFirst`). A failure ends the text: it is logged and the stream ends
 * cleanly, as with streamSSE.
 */
async function gather(events: AsyncGenerator<string, void, void>, next: Promise<Step>, waitForFirst = false): Promise<Gathered> {
  let text = "";
  let pending = next;
  let wait = waitForFirst;
  while (true) {
    pending.catch(() => undefined);
    let ready: Step | typeof LATER;
    try {
      ready = await (wait ? pending : Promise.race([pending, afterTurns(COALESCE_TURNS)]));
    } catch (error) {
      console.error(error);
      return { text };
    }
    wait = false;
    if (ready === LATER) return { text, ahead: pending };
    if (ready.done) return { text };
    text += ready.value;
    pending = events.next();
  }
}

/**
 * A text/event-stream response pulled straight from an async generator of encoded events: one
 * ReadableStream between the generator and the client, where hono's streamSSE puts a TransformStream
 * and a second ReadableStream (and a writer promise per event). Events that are ready together go out
 * as one write; a response that is all ready before its headers go (a replayed cache hit) goes out as
 * one body, without a stream: a stream costs the runtime more than its writes. The client going away
 * returns the generator (and `onCancel` lets the route return the stream under it at once, as before).
 */
export async function sseResponse(c: Context<AppEnv>, events: AsyncGenerator<string, void, void>, onCancel?: () => void): Promise<Response> {
  c.header("Content-Type", "text/event-stream");
  c.header("Cache-Control", "no-cache");
  const encoder = new TextEncoder();
  let ready = await gather(events, events.next());
  if (!ready.ahead) {
    c.header("Content-Length", String(encoder.encode(ready.text).byteLength));
    return c.body(ready.text);
  }
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      // Nothing is ready: wait for the next event, then take what is ready with it.
      const got = ready.text || !ready.ahead ? ready : await gather(events, ready.ahead, true);
      ready = { text: "", ahead: got.ahead };
      if (got.text) controller.enqueue(encoder.encode(got.text));
      if (!got.ahead) controller.close();
    },
    async cancel() {
      onCancel?.();
      await events.return(undefined);
    },
  });
  c.header("Transfer-Encoding", "chunked");
  c.header("Connection", "keep-alive");
  return c.body(body);
}
