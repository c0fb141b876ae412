/**
 * Signs outgoing webhooks (job callbacks; budget alerts reuse it) the way Stripe-style receivers
 * expect: `x-tollgate-signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`. The timestamp
 * is inside the MAC, so a receiver that checks it within a tolerance rejects replays.
 */
export const SIGNATURE_HEADER = "x-tollgate-signature";

async function hmacHex(secret: string, message: string): Promise<string> {
  const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(message));
  return [...new Uint8Array(mac)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export async function signWebhook(secret: string, body: string, timestampS: number): Promise<string> {
  return `t=${timestampS},v1=${await hmacHex(secret, `${timestampS}.${body}`)}`;
}

/** What a receiver does; used by the tests and handy for anyone writing one. */
export async function verifyWebhook(secret: string, body: string, header: string, nowS: number, toleranceS = 300): Promise<boolean> {
  const t = Number(header.match(/(?:^|,)t=(\d+)/)?.[1]);
  const v1 = header.match(/(?:^|,)v1=([0-9a-f]{64})/)?.[1];
  if (!Number.isFinite(t) || !v1 || Math.abs(nowS - t) > toleranceS) return false;
  const expected = await hmacHex(secret, `${t}.${body}`);
  let diff = 0;
  for (let i = 0; i < expected.length; i++) diff |= expected.charCodeAt(i) ^ v1.charCodeAt(i);
  return diff === 0;
}
