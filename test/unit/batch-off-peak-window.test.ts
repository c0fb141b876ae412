import { describe, expect, it } from "vitest";
import { inOffPeakWindow, latestRelease, parseCompletionWindow } from "../../src/jobs/off-peak-window";

const at = (hour: number, minute = 0) => new Date(Date.UTC(2026, 10, 21, hour, minute));

describe("off-peak window", () => {
  it("defaults to 00:00-06:00 UTC, end exclusive", () => {
    const window = { start_hour: 0, end_hour: 6 };
    expect(inOffPeakWindow(window, at(0))).toBe(true);
    expect(inOffPeakWindow(window, at(5, 59))).toBe(true);
    expect(inOffPeakWindow(window, at(6))).toBe(false);
    expect(inOffPeakWindow(window, at(23, 59))).toBe(false);
  });

  it("wraps midnight, and knows the all-day and empty windows", () => {
    const wrap = { start_hour: 22, end_hour: 4 };
    expect(inOffPeakWindow(wrap, at(23))).toBe(true);
    expect(inOffPeakWindow(wrap, at(3))).toBe(true);
    expect(inOffPeakWindow(wrap, at(12))).toBe(false);
    expect(inOffPeakWindow({ start_hour: 0, end_hour: 24 }, at(13))).toBe(true);
    expect(inOffPeakWindow({ start_hour: 9, end_hour: 9 }, at(9))).toBe(false);
  });

  it("releases in time to finish inside the completion window", () => {
    const created = at(8).getTime();
    expect(latestRelease(created, 24 * 3600)).toBe(created + 24 * 3600_000 - (6 * 3600_000 + 5 * 60_000));
    expect(latestRelease(created, 3600)).toBe(created + 3600_000 - 20 * 60_000);
    // A window shorter than the margin means "now".
    expect(latestRelease(created, 600)).toBe(created);
  });

  it("parses completion windows and refuses odd ones", () => {
    expect(parseCompletionWindow("24h")).toBe(86_400);
    expect(parseCompletionWindow("90m")).toBe(5_400);
    expect(parseCompletionWindow("5m")).toBeNull();
    expect(parseCompletionWindow("169h")).toBeNull();
    expect(parseCompletionWindow("1d")).toBeNull();
  });
});
