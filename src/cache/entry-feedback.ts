// Per-entry reach, as in vCache (arXiv 2502.03771) but bounded: every cached entry starts at the
// verifier's shipped threshold; a hit later confirmed good lowers the probability its matches need a
// little, a wrong hit raises it for the entries around it. The shift lives in KV next to the entry
// (one small read per candidate) and is clamped so no amount of feedback turns the verifier off.

/** How far feedback may move an entry's needed probability, either way. */
export const MAX_LOOSEN = 0.1;
export const MAX_TIGHTEN = 0.25;
const CONFIRM_STEP = 0.02;
const WRONG_STEP = 0.1;
const TTL_S = 30 * 24 * 3600;

export interface EntryReach {
  shift: number;
  confirmed: number;
  wrong: number;
}

export interface CacheFeedbackTotals {
  confirmed: number;
  wrong: number;
}

const reachKey = (tenantId: string, entryKey: string) => `sfb:${tenantId}:${entryKey}`;
const totalsKey = (tenantId: string) => `sfb-totals:${tenantId}`;
const NONE: EntryReach = { shift: 0, confirmed: 0, wrong: 0 };

export async function entryReach(kv: KVNamespace, tenantId: string, entryKey: string): Promise<EntryReach> {
  return (await kv.get<EntryReach>(reachKey(tenantId, entryKey), "json").catch(() => null)) ?? NONE;
}

async function adjust(kv: KVNamespace, tenantId: string, entryKey: string, change: (r: EntryReach) => EntryReach): Promise<EntryReach> {
  const next = change(await entryReach(kv, tenantId, entryKey));
  next.shift = Math.min(MAX_TIGHTEN, Math.max(-MAX_LOOSEN, next.shift));
  await kv.put(reachKey(tenantId, entryKey), JSON.stringify(next), { expirationTtl: TTL_S });
  return next;
}

/** A hit from this entry was confirmed good: it may reach a little further. */
export const confirmEntry = (kv: KVNamespace, tenantId: string, entryKey: string) =>
  adjust(kv, tenantId, entryKey, (r) => ({ shift: r.shift - CONFIRM_STEP, confirmed: r.confirmed + 1, wrong: r.wrong }));

/** An entry near one that served a wrong hit: its matches must be surer from now on. */
export const tightenEntry = (kv: KVNamespace, tenantId: string, entryKey: string) =>
  adjust(kv, tenantId, entryKey, (r) => ({ shift: r.shift + WRONG_STEP, confirmed: r.confirmed, wrong: r.wrong + 1 }));

export async function feedbackTotals(kv: KVNamespace, tenantId: string): Promise<CacheFeedbackTotals> {
  return (await kv.get<CacheFeedbackTotals>(totalsKey(tenantId), "json").catch(() => null)) ?? { confirmed: 0, wrong: 0 };
}

// Read-modify-write on KV: concurrent reports may undercount by one. It is an estimate shown to the
// tenant, not a balance.
export async function countFeedback(kv: KVNamespace, tenantId: string, verdict: "confirmed" | "wrong"): Promise<void> {
  const totals = await feedbackTotals(kv, tenantId);
  totals[verdict]++;
  await kv.put(totalsKey(tenantId), JSON.stringify(totals));
}
