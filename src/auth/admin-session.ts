import type { Context } from "hono";
import { getSignedCookie, setSignedCookie } from "hono/cookie";
import type { AppEnv } from "../hono-env";
import { constantTimeEqual } from "./key-hash";

export const ADMIN_COOKIE = "tg_admin";
export const SESSION_SECONDS = 8 * 3600;

/**
 * The dashboard's session: `s1_<issued at, s>_<128 random bits>`, in a cookie signed with the admin
 * token (rotating the token signs every session out). Each sign-in gets its own id, so the CSRF token
 * derived from it is per session, and the expiry is checked here rather than trusted to the browser.
 */
export function newSessionId(now = Date.now()): string {
  const nonce = [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `s1_${Math.floor(now / 1000)}_${nonce}`;
}

function sessionIsLive(value: string, now: number): boolean {
  const match = /^s1_(\d{1,12})_[0-9a-f]{32}$/.exec(value);
  if (!match) return false;
  const issuedS = Number(match[1]);
  return issuedS <= now / 1000 + 60 && now / 1000 < issuedS + SESSION_SECONDS;
}

/** The signed-in session's id, or undefined (no cookie, a forged or expired one, or no admin token set). */
export async function readSession(c: Context<AppEnv>, now = Date.now()): Promise<string | undefined> {
  const secret = c.env.ADMIN_TOKEN;
  if (!secret) return undefined;
  const value = await getSignedCookie(c, secret, ADMIN_COOKIE);
  return typeof value === "string" && sessionIsLive(value, now) ? value : undefined;
}

export function setSession(c: Context<AppEnv>, secret: string, session: string): Promise<void> {
  return setSignedCookie(c, ADMIN_COOKIE, session, secret, { httpOnly: true, secure: true, sameSite: "Strict", path: "/", maxAge: SESSION_SECONDS });
}

/** Synchroniser token bound to the session by HMAC: a page must have read it to send it back. */
export async function csrfToken(secret: string, session: string): Promise<string> {
  const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(`csrf:${session}`));
  return btoa(String.fromCharCode(...new Uint8Array(mac)))
    .replaceAll("+", "-")
    .replaceAll("/", "_")
    .replace(/=+$/, "");
}

export async function validCsrfToken(secret: string, session: string, token: string | undefined): Promise<boolean> {
  if (!token) return false;
  return constantTimeEqual(token, await csrfToken(secret, session));
}

export type OriginVerdict = "same-origin" | "cross-origin" | "unknown";

/**
 * Where a browser says the request came from. `Sec-Fetch-Site` is decisive when present (pages cannot
 * set it, and it survives a proxy that rewrites the request URL); otherwise `Origin` must equal the
 * request URL's scheme, host and port. SameSite cookies do not help here: another port of the same
 * host is the same site. "unknown" means neither header: not a browser, or a very old one.
 */
export function requestOrigin(c: Context<AppEnv>): OriginVerdict {
  const site = c.req.header("sec-fetch-site");
  if (site !== undefined) return site === "same-origin" ? "same-origin" : "cross-origin";
  const origin = c.req.header("origin");
  if (origin === undefined) return "unknown";
  return origin === new URL(c.req.url).origin ? "same-origin" : "cross-origin";
}

export const isUnsafeMethod = (method: string): boolean => !/^(GET|HEAD|OPTIONS)$/.test(method);
