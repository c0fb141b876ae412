import { describe, expect, it } from "vitest";
import { countsAgainstProvider } from "../../src/providers/call-with-fallback";
import type { ProviderFailure } from "../../src/providers/provider-types";

// Breakers are shared by every tenant, so nothing a client controls may move them. Through SELF.fetch a
// client that disconnects cancels its request before any breaker report is sent (no request log line
// either), so the rule that tells a client abort apart cannot be observed end to end: it is checked here.
const http = (status: number): ProviderFailure => ({ kind: "http", status, retryable: status >= 500, message: `answered ${status}` });
const timeout: ProviderFailure = { kind: "timeout", retryable: true, message: "upstream timed out" };

describe("which failures count against a provider's breaker", () => {
  it("never a client's own abort or deadline, whatever the failure looks like", () => {
    for (const failure of [timeout, http(500), http(503)]) {
      expect({ failure: failure.message, cause: "client", counts: countsAgainstProvider(failure, "client") }).toMatchObject({ counts: false });
      expect({ failure: failure.message, cause: "deadline", counts: countsAgainstProvider(failure, "deadline") }).toMatchObject({ counts: false });
    }
  });

  it("never a request the provider rejects as invalid; always its own faults and credentials", () => {
    const table: [number, boolean][] = [[400, false], [404, false], [413, false], [422, false], [401, true], [403, true], [408, true], [429, true], [500, true], [502, true]];
    for (const [status, counts] of table) expect({ status, counts: countsAgainstProvider(http(status), undefined) }).toEqual({ status, counts });
    expect(countsAgainstProvider(timeout, "attempt-timeout")).toBe(true);
  });
});
