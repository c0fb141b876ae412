import { decodeTime, isValid } from "ulid";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ulid } from "../../src/unique-id";

afterEach(() => vi.restoreAllMocks());

describe("ulid from a pooled CSPRNG", () => {
  it("makes valid, time-ordered ids whose random part is spread over the whole alphabet", () => {
    const before = Date.now();
    const ids = Array.from({ length: 2000 }, () => ulid());
    expect(ids.every(isValid)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    expect(decodeTime(ids[0] ?? "")).toBeGreaterThanOrEqual(before);
    // 2000 × 16 random characters: every one of the 32 symbols shows up, none dominates.
    const counts = new Map<string, number>();
    for (const id of ids) for (const ch of id.slice(10)) counts.set(ch, (counts.get(ch) ?? 0) + 1);
    expect(counts.size).toBe(32);
    expect(Math.max(...counts.values())).toBeLessThan((2000 * 16) / 32 * 1.3);
  });

  it("calls crypto.getRandomValues about once per 256 ids, not 16 times per id", () => {
    const spy = vi.spyOn(crypto, "getRandomValues");
    for (let i = 0; i < 512; i++) ulid();
    expect(spy.mock.calls.length).toBeLessThanOrEqual(3);
  });
});
