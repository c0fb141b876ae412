import { decodeTime, isValid } from "ulid";
import { afterEach, describe, expect, it, vi } from "vitest";
import { newRequestId } from "../../src/request-id";

afterEach(() => vi.restoreAllMocks());

describe("request ids", () => {
  it("are valid, unique ULIDs carrying the time they were made", () => {
    const before = Date.now();
    const ids = Array.from({ length: 5000 }, newRequestId);
    const after = Date.now();
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) {
      expect(isValid(id)).toBe(true);
      expect(decodeTime(id)).toBeGreaterThanOrEqual(before);
      expect(decodeTime(id)).toBeLessThanOrEqual(after);
    }
    // The random part uses the whole alphabet, not a corner of it.
    expect(new Set(ids.flatMap((id) => [...id.slice(10)])).size).toBe(32);
  });

  it("call crypto.getRandomValues about once per 256 ids, not 16 times per id", () => {
    const spy = vi.spyOn(crypto, "getRandomValues");
    for (let i = 0; i < 512; i++) newRequestId();
    expect(spy.mock.calls.length).toBeLessThanOrEqual(3);
  });
});
