/** Display formatting for the dashboard (UTC throughout, like the reports). */

export function formatUsd(usd: number): string {
  const abs = Math.abs(usd);
  // Per-request costs are fractions of a cent: show enough digits to tell them apart.
  const digits = abs === 0 ? 2 : abs < 0.01 ? 6 : abs < 1 ? 4 : 2;
  return `$${usd.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits })}`;
}

export const formatCount = (n: number): string => n.toLocaleString("en-US");

export const formatPercent = (fraction: number | null): string => (fraction === null ? "–" : `${(fraction * 100).toFixed(1)}%`);

/** MM-DD HH:MM: the header says the page is in UTC, and lists of recent events rarely cross a year. */
export const formatTime = (ms: number | null): string => (ms === null ? "–" : new Date(ms).toISOString().slice(5, 16).replace("T", " "));
