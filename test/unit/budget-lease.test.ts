import { describe, expect, it } from "vitest";
import { LeaseBook, LocalLease } from "../../src/budget/budget-lease";
import type { LeaseGrant, LeaseReport } from "../../src/budget/budget-types";
import { emptyLedgerEvent, type LedgerEvent } from "../../src/ledger/ledger-event";

const grant = (over: Partial<LeaseGrant> = {}): LeaseGrant => ({
  leaseId: "lease_1",
  keys: [{ scope: "tenant", period: "day", period_key: "2026-11-30" }],
  usd: 1,
  requests: 10,
  tokens: 10_000,
  slots: 3,
  expiresAt: 10_000,
  ...over,
});

const NO_IO = { send: async () => undefined, recordElsewhere: async () => undefined };

function lease(over: Partial<LeaseGrant> = {}, now = () => 0) {
  const reports: LeaseReport[] = [];
  const local = new LocalLease(grant(over), { send: async (report) => void reports.push(report), recordElsewhere: async () => undefined }, now);
  return { local, reports };
}

describe("a lease admits in memory, and never past its slice", () => {
  it("refuses what the slice cannot hold: dollars, requests, tokens, slots", () => {
    const { local } = lease({ usd: 0.25, requests: 3, slots: 2, tokens: 300 });
    const a = local.admit(0.1, 100);
    const b = local.admit(0.1, 100);
    expect(a && b).toBeTruthy();
    expect(local.admit(0.01, 10)).toBeUndefined(); // both slots in use
    a?.settle(0.05, 50);
    expect(local.admit(0.1, 100)).toBeUndefined(); // $0.05 left: a settled request does not refill the slice
    expect(local.admit(0.05, 200)).toBeUndefined(); // tokens
    expect(local.admit(0.05, 100)).toBeTruthy(); // the third and last request
    expect(local.admit(0, 0)).toBeUndefined(); // requests used up
    expect(local.usable).toBe(false);
  });

  it("stops admitting when the lease expires", () => {
    let t = 0;
    const { local } = lease({ expiresAt: 100 }, () => t);
    expect(local.admit(0.01, 1)).toBeTruthy();
    t = 100;
    expect(local.admit(0.01, 1)).toBeUndefined();
  });

  it("a dearer fallback draws from the slice, or is refused", () => {
    const { local } = lease({ usd: 0.3 });
    const ticket = local.admit(0.1, 1);
    expect(ticket?.cover(0.25)).toBe(true);
    expect(ticket?.reservedUsd).toBe(0.25);
    expect(ticket?.cover(0.5)).toBe(false);
  });

  it("reports settlements in one batch; an idle lease closes with it and gives back the rest", async () => {
    let t = 0;
    const { local, reports } = lease({}, () => t);
    const tickets = [local.admit(0.1, 10), local.admit(0.2, 10)];
    const first = tickets[0]?.settle(0.01, 5);
    await tickets[1]?.settle(0.02, 7);
    await tickets[1]?.settle(0.02, 7); // settling twice reports once
    t = 1_000; // nothing admitted since: the lease is idle by the time the report goes
    await first;
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatchObject({ spentUsd: 0.03, settled: [{ index: 0, tokens: 5 }, { index: 1, tokens: 7 }], usedRequests: 2, close: true });
    expect(reports[0]?.reservedUsd).toBeCloseTo(0.3, 12);
    expect(local.usable).toBe(false);
  });

  it("a busy lease stays open across reports", async () => {
    const { local, reports } = lease();
    await local.admit(0.1, 10)?.settle(0.01, 5);
    expect(reports[0]?.close).toBe(false);
    expect(local.usable).toBe(true);
  });

  it("a report that fails records its rows another way at once and sends its spend with the next one", async () => {
    let fail = true;
    const reports: LeaseReport[] = [];
    const elsewhere: string[] = [];
    const io = {
      send: async (r: LeaseReport) => {
        if (fail) throw new Error("object unreachable");
        reports.push(r);
      },
      recordElsewhere: async (events: LedgerEvent[]) => void elsewhere.push(...events.map((e) => e.request_id)),
    };
    const local = new LocalLease(grant(), io, () => 0);
    const event = emptyLedgerEvent("req_a", "/v1/chat/completions", 0);
    await local.admit(0.1, 1)?.settle(0.01, 1, event);
    expect(elsewhere).toEqual(["req_a"]);
    fail = false;
    await local.admit(0.1, 1)?.settle(0.02, 1);
    expect(reports.flatMap((r) => r.settled.map((s) => s.index))).toEqual([0, 1]);
    expect(reports[0]?.spentUsd).toBeCloseTo(0.03, 12);
    expect(reports[0]?.events).toEqual([]);
  });

  it("settlements that join a report in flight return at once; the starter's report carries them", async () => {
    const { local, reports } = lease();
    const a = local.admit(0.1, 1);
    const b = local.admit(0.1, 1);
    const started = a?.settle(0.01, 1);
    let joinedDone = false;
    await b?.settle(0.01, 1).then(() => {
      joinedDone = true;
    });
    expect(joinedDone).toBe(true);
    expect(reports).toHaveLength(0);
    await started;
    expect(reports[0]?.settled).toHaveLength(2);
  });
});

describe("the isolate's lease book", () => {
  it("retires a used-up lease and takes the new one", () => {
    const book = new LeaseBook();
    const key = LeaseBook.key("t", "default", "k");
    expect(book.admit(key, 0.1, 1)).toBeUndefined();
    const first = new LocalLease(grant({ requests: 1 }), NO_IO, () => 0);
    book.install(key, first);
    expect(book.admit(key, 0.1, 1)?.lease).toBe(first);
    expect(book.admit(key, 0.1, 1)).toBeUndefined();
    const second = new LocalLease(grant({ leaseId: "lease_2" }), NO_IO, () => 0);
    book.install(key, second);
    expect(book.admit(key, 0.1, 1)?.lease).toBe(second);
    expect(book.admit(LeaseBook.key("t", "other-task", "k"), 0.1, 1)).toBeUndefined();
  });
});
