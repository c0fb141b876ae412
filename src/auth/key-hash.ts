const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/** `tg_` + 43 base62 characters: 256 bits of entropy from the platform CSPRNG. */
export function generateApiKey(): string {
  // Rejection sampling keeps every character uniform (256 is not a multiple of 62).
  const out: string[] = [];
  while (out.length < 43) {
    for (const byte of crypto.getRandomValues(new Uint8Array(64))) {
      if (byte < 248 && out.length < 43) out.push(BASE62[byte % 62] ?? "0");
    }
  }
  return `tg_${out.join("")}`;
}

const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));
const encoder = new TextEncoder();

export async function sha256Hex(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
  let hex = "";
  for (const b of digest) hex += HEX[b];
  return hex;
}

/** Constant-time comparison: both sides are hashed first, so lengths never leak either. */
export async function constantTimeEqual(a: string, b: string): Promise<boolean> {
  const encoder = new TextEncoder();
  const [ha, hb] = await Promise.all([
    crypto.subtle.digest("SHA-256", encoder.encode(a)),
    crypto.subtle.digest("SHA-256", encoder.encode(b)),
  ]);
  return crypto.subtle.timingSafeEqual(ha, hb);
}
