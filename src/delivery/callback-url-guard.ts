import { GatewayError } from "../errors";

/**
 * SSRF guard for URLs Tollgate will POST to on a tenant's behalf (job callbacks, budget webhooks).
 * Outside local development only public https endpoints are accepted: no loopback, private, link-local,
 * carrier-grade NAT, multicast or reserved addresses, no cloud metadata names, no single-label hosts.
 * IPv6 literals that carry an IPv4 address (mapped, NAT64, 6to4, ISATAP) are judged by that address
 * too, and Teredo and IPv4-compatible forms are refused outright.
 * What it cannot see: names are not resolved here, so a public name that resolves to a private
 * address (or DNS rebinding between check and send) is only stopped by the platform, whose fetch does
 * not reach private networks; an IPv4 address embedded under an operator-chosen prefix (a 6rd or a
 * network-specific NAT64 prefix) looks like any global address. Redirects are not followed by the
 * deliverer for the same reason.
 */
export type UrlVerdict = { ok: true; url: URL } | { ok: false; reason: string };

const MAX_URL_LENGTH = 2048;
const BLOCKED_NAMES = new Set(["localhost", "metadata", "metadata.google.internal", "instance-data", "instance-data.ec2.internal"]);
const BLOCKED_SUFFIXES = [".localhost", ".local", ".internal", ".localdomain", ".home.arpa", ".intranet", ".lan"];

// [first address, prefix length] for IPv4 ranges that are never a public endpoint.
const BLOCKED_V4: [string, number][] = [
  ["0.0.0.0", 8], ["10.0.0.0", 8], ["100.64.0.0", 10], ["127.0.0.0", 8], ["169.254.0.0", 16], ["172.16.0.0", 12],
  ["192.0.0.0", 24], ["192.0.2.0", 24], ["192.88.99.0", 24], ["192.168.0.0", 16], ["198.18.0.0", 15], ["198.51.100.0", 24],
  ["203.0.113.0", 24], ["224.0.0.0", 4], ["240.0.0.0", 4],
];

/** Strict everywhere except local development and tests, so an unknown environment name is safe. */
export function strictUrlPolicy(environment: string | undefined): boolean {
  return environment !== "dev" && environment !== "test";
}

function v4ToInt(address: string): number | null {
  const parts = address.split(".");
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) return null;
  return parts.reduce((acc, p) => acc * 256 + Number(p), 0);
}

export function isBlockedIPv4(address: string): boolean {
  const value = v4ToInt(address);
  if (value === null) return false;
  return BLOCKED_V4.some(([base, bits]) => {
    const start = v4ToInt(base) ?? 0;
    const size = 2 ** (32 - bits);
    return value >= start && value < start + size;
  });
}

/** Expands an IPv6 literal (without brackets or zone) to eight 16-bit groups; null when it is not one. */
function expandIPv6(address: string): number[] | null {
  let text = address.toLowerCase();
  const v4 = text.match(/:(\d{1,3}(?:\.\d{1,3}){3})$/)?.[1];
  if (v4) {
    const value = v4ToInt(v4);
    if (value === null) return null;
    text = `${text.slice(0, -v4.length)}${(value >>> 16).toString(16)}:${(value & 0xffff).toString(16)}`;
  }
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const head = halves[0] ? halves[0].split(":") : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(":") : [];
  const fill = halves.length === 2 ? 8 - head.length - tail.length : 0;
  if (halves.length === 2 && fill < 1) return null;
  const groups = [...head, ...new Array<string>(Math.max(0, fill)).fill("0"), ...tail];
  if (groups.length !== 8 || groups.some((g) => !/^[0-9a-f]{1,4}$/.test(g))) return null;
  return groups.map((g) => parseInt(g, 16));
}

const v4Text = (high: number, low: number): string => `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;

type Embedding = { refuse: true } | { refuse: false; v4: string[]; translated: boolean };

/**
 * IPv4 addresses that an IPv6 address carries in a well-known place, so that a tunnel or translator
 * on the path could deliver it to that IPv4 address. Each one must pass the IPv4 rules by itself.
 * `refuse` marks forms that are never a webhook endpoint whatever they embed; `translated` ones are
 * the IPv4 address itself (the socket or a translator connects to it), so they are judged by it alone.
 */
function embeddedIPv4(g: number[]): Embedding {
  const [a = 0, b = 0, c = 0, d = 0, e = 0, f = 0, h6 = 0, h7 = 0] = g;
  const low = v4Text(h6, h7);
  // ::ffff:a.b.c.d (IPv4-mapped): the socket layer connects to a.b.c.d itself.
  if (a === 0 && b === 0 && c === 0 && d === 0 && e === 0 && f === 0xffff) return { refuse: false, v4: [low], translated: true };
  // 64:ff9b::/96 (RFC 6052 well-known NAT64 prefix): the translator connects to the last 32 bits.
  if (a === 0x64 && b === 0xff9b && c === 0 && d === 0 && e === 0 && f === 0) return { refuse: false, v4: [low], translated: true };
  // 2002::/16 (6to4, RFC 3056): the relay tunnels to the IPv4 address in bits 16-48.
  if (a === 0x2002) return { refuse: false, v4: [v4Text(b, c)], translated: false };
  // 2001::/23 (IETF protocol assignments): Teredo 2001::/32 (server IPv4 in bits 32-64, client IPv4
  // inverted in the last 32), ORCHID, benchmarking, AMT... None of them is a webhook host.
  if (a === 0x2001 && b < 0x200) return { refuse: true };
  // ISATAP interface id (RFC 5214) on any prefix: ...:0[0-3]00:5efe:a.b.c.d.
  if ((e & 0xfcff) === 0 && f === 0x5efe) return { refuse: false, v4: [low], translated: false };
  return { refuse: false, v4: [], translated: false };
}

/**
 * Only global unicast (2000::/3) outside the special-purpose blocks is public; everything else
 * (::/8 with IPv4-compatible ::a.b.c.d and SIIT ::ffff:0:a.b.c.d, 64:ff9b:1::/48 local NAT64,
 * ULA, link-local, multicast, discard) is refused, except the mapped and well-known NAT64 forms,
 * which are judged by the IPv4 address inside. Accepts brackets; a zone id is refused outright.
 */
export function isBlockedIPv6(literal: string): boolean {
  const address = literal.startsWith("[") && literal.endsWith("]") ? literal.slice(1, -1) : literal;
  if (address.includes("%")) return true;
  const g = expandIPv6(address);
  if (!g) return true;
  const embedded = embeddedIPv4(g);
  if (embedded.refuse) return true;
  if (embedded.v4.some((v4) => isBlockedIPv4(v4))) return true;
  if (embedded.translated) return false;
  const [a = 0, b = 0] = g;
  if ((a & 0xe000) !== 0x2000) return true;
  if (a === 0x2001 && b === 0x0db8) return true; // documentation (RFC 3849)
  if (a === 0x3fff && b < 0x1000) return true; // documentation (RFC 9637, 3fff::/20)
  return false;
}

export function checkCallbackUrl(raw: string, environment: string | undefined): UrlVerdict {
  if (raw.length > MAX_URL_LENGTH) return { ok: false, reason: `is longer than ${MAX_URL_LENGTH} characters` };
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, reason: "is not a valid absolute URL" };
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return { ok: false, reason: "must use https" };
  if (url.username || url.password) return { ok: false, reason: "must not carry credentials" };
  if (!strictUrlPolicy(environment)) return { ok: true, url };
  if (url.protocol !== "https:") return { ok: false, reason: "must use https" };
  const host = url.hostname.toLowerCase().replace(/\.$/, "");
  if (host.startsWith("[")) {
    return isBlockedIPv6(host.slice(1, -1)) ? { ok: false, reason: "points to a private, loopback, link-local or reserved address" } : { ok: true, url };
  }
  if (/^[\d.]+$/.test(host)) {
    return isBlockedIPv4(host) || v4ToInt(host) === null ? { ok: false, reason: "points to a private, loopback, link-local or reserved address" } : { ok: true, url };
  }
  if (BLOCKED_NAMES.has(host) || BLOCKED_SUFFIXES.some((suffix) => host.endsWith(suffix))) return { ok: false, reason: "points to a local or metadata host name" };
  if (!host.includes(".")) return { ok: false, reason: "must be a fully qualified public host name" };
  return { ok: true, url };
}

/** For request validation: a refused URL is a 400 that names the field. */
export function assertCallbackUrl(raw: string, environment: string | undefined, param = "callback_url"): URL {
  const verdict = checkCallbackUrl(raw, environment);
  if (!verdict.ok) throw GatewayError.invalid(`${param} ${verdict.reason}`, param);
  return verdict.url;
}
