import type { Context } from "hono";
import type { AppEnv } from "../hono-env";

/** One `data:` event: JSON text has no raw line breaks, so it is always one line. */
export const sseData = (data: string): string => `data: ${data}\n\n`;

/**
 * A text/event-stream response pulled straight from an async generator of encoded events: one
 * ReadableStream between the generator and the client, where hono's streamSSE puts a TransformStream
 * and a second ReadableStream (and a writer promise per event). The client going away returns the
 * generator (and `onCancel` lets the route return the stream under it at once, as before).
 */
export function sseResponse(c: Context<AppEnv>, events: AsyncGenerator<string, void, void>, onCancel?: () => void): Response {
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      let next: IteratorResult<string, void>;
      try {
        next = await events.next();
      } catch (error) {
        // As streamSSE did: a route's unexpected failure is logged and the stream ends cleanly.
        console.error(error);
        controller.close();
        return;
      }
      if (next.done) controller.close();
      else controller.enqueue(encoder.encode(next.value));
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
