/**
 * Outgoing webhooks (budget alerts, job callbacks) carry `x-tollgate-signature: t=<unix>,v1=<hex>`:
 * HMAC-SHA256 over `<t>.<body>` with WEBHOOK_SIGNING_SECRET. The timestamp is inside the MAC, so a
 * receiver that checks it within a tolerance rejects replays; the scheme is Stripe's, so existing
 * verifier code fits.
 */
export const SIGNATURE_HEADER = "x-tollgate-signature";

async function hmacHex(secret: string, message: string): Promise<string> {
  const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(message));
  return [...new Uint8Array(mac)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export async function signWebhook(secret: string, body: string, timestampS = Math.floor(Date.now() / 1000)): Promise<string> {
  return `t=${timestampS},v1=${await hmacHex(secret, `${timestampS}.${body}`)}`;
}

/** What a receiver does; used by the tests and handy for anyone writing one. */
export async function verifyWebhook(secret: string, body: string, header: string, nowS = Math.floor(Date.now() / 1000), toleranceS = 300): Promise<boolean> {
  const t = Number(header.match(/(?:^|,)t=(\d+)/)?.[1]);
  const v1 = header.match(/(?:^|,)v1=([0-9a-f]{64})/)?.[1];
  if (!Number.isFinite(t) || !v1 || Math.abs(nowS - t) > toleranceS) return false;
  const expected = new TextEncoder().encode(await hmacHex(secret, `${t}.${body}`));
  return crypto.subtle.timingSafeEqual(expected, new TextEncoder().encode(v1));
}
