import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { queueLedgerEvent } from "../../src/ledger/ledger-batch";
import { emptyLedgerEvent, type LedgerEvent } from "../../src/ledger/ledger-event";
import { queueWithOutage } from "../fixtures/fault-fixtures";
import { ledgerRow } from "../fixtures/gateway";

/**
 * Rows without a settlement (cache hits, rejections) leave an isolate in batches: many requests' rows
 * share one queue call, and none is lost when the batch cannot be sent.
 */
let n = 0;
const row = (tag: string): LedgerEvent => ({ ...emptyLedgerEvent(`lb-${tag}-${++n}-${Date.now()}`, "/v1/chat/completions", Date.now()), status: 200 });

function recordingQueue() {
  const batches: unknown[][] = [];
  const singles: unknown[] = [];
  const queue = {
    send: async (body: unknown) => void singles.push(body),
    sendBatch: async (messages: { body: unknown }[]) => void batches.push(messages.map((m) => m.body)),
  } as unknown as Queue;
  // A fresh env object per test: batches are kept per env, as an isolate keeps one.
  return { batches, singles, env: { ...env, LEDGER_QUEUE: queue } as Env };
}

describe("ledger rows batched per isolate", () => {
  it("120 rows queued together go out in at most 3 queue calls (50 rows each), every row exactly once", async () => {
    const { batches, singles, env: e } = recordingQueue();
    const rows = Array.from({ length: 120 }, () => row("many"));
    await Promise.all(rows.map((r) => queueLedgerEvent(e, r)));
    const sent = (batches.flat() as LedgerEvent[]).map((r) => r.request_id);
    expect(singles).toEqual([]);
    expect(batches.length).toBeLessThanOrEqual(3);
    expect(sent.sort()).toEqual(rows.map((r) => r.request_id).sort());
  });

  it("the opener's promise resolves only once its batch, with the rows queued after it, is on the queue", async () => {
    const { batches, env: e } = recordingQueue();
    const first = queueLedgerEvent(e, row("first"));
    const second = queueLedgerEvent(e, row("second"));
    await second; // a follower's own call returns at once: the opener sends for it
    expect(batches).toEqual([]);
    await first;
    expect(batches).toHaveLength(1);
    expect(batches[0]).toHaveLength(2);
  });

  it("a batch the queue refuses falls back row by row, and with the queue down the rows reach D1 directly", async () => {
    const e = { ...env, LEDGER_QUEUE: queueWithOutage(env.LEDGER_QUEUE) } as Env;
    const rows = [row("down"), row("down"), row("down")];
    const sending = rows.map((r) => queueLedgerEvent(e, r));
    await Promise.all(sending);
    for (const r of rows) expect(await ledgerRow<{ request_id: string }>(r.request_id, 5_000)).toMatchObject({ request_id: r.request_id });
  });
});
