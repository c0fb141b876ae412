/**
 * Outgoing webhooks (budget alerts, job callbacks) carry `x-tollgate-signature: t=<unix>,v1=<hex>`:
 * HMAC-SHA256 over `<t>.<body>` with WEBHOOK_SIGNING_SECRET. Including the timestamp lets receivers
 * reject replays; the same scheme as Stripe's, so existing verifier code fits.
 */
export async function signWebhook(secret: string, body: string, timestamp = Math.floor(Date.now() / 1000)): Promise<string> {
  const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(`${timestamp}.${body}`));
  const hex = [...new Uint8Array(mac)].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `t=${timestamp},v1=${hex}`;
}

export async function verifyWebhook(secret: string, body: string, header: string, toleranceS = 300, now = Math.floor(Date.now() / 1000)): Promise<boolean> {
  const parts = Object.fromEntries(header.split(",").map((p) => p.split("=", 2) as [string, string]));
  const timestamp = Number(parts.t);
  if (!Number.isFinite(timestamp) || Math.abs(now - timestamp) > toleranceS || !parts.v1) return false;
  const expected = await signWebhook(secret, body, timestamp);
  const a = new TextEncoder().encode(expected);
  const b = new TextEncoder().encode(`t=${timestamp},v1=${parts.v1}`);
  return a.byteLength === b.byteLength && crypto.subtle.timingSafeEqual(a, b);
}
