import { describe, expect, it } from "vitest";
import { assertCallbackUrl, checkCallbackUrl, isBlockedIPv4, isBlockedIPv6, strictUrlPolicy } from "../../src/delivery/callback-url-guard";
import { signWebhook, verifyWebhook } from "../../src/auth/webhook-signature";

const refused = (url: string, environment = "production") => {
  const verdict = checkCallbackUrl(url, environment);
  return verdict.ok ? null : verdict.reason;
};

describe("callback URL guard (SSRF)", () => {
  it("accepts public https endpoints in staging and production", () => {
    for (const environment of ["staging", "production"]) {
      expect(refused("https://hooks.example.com/tollgate?x=1", environment)).toBeNull();
      expect(refused("https://93.184.216.34/cb", environment)).toBeNull();
      expect(refused("https://[2606:4700:4700::1111]/cb", environment)).toBeNull();
    }
  });

  it.each([
    ["http://hooks.example.com/cb", /https/],
    ["https://localhost/cb", /local/],
    ["https://api.localhost/cb", /local/],
    ["https://printer.local/cb", /local/],
    ["https://metadata.google.internal/computeMetadata/v1/", /metadata/],
    ["https://intranet/cb", /fully qualified/],
    ["https://127.0.0.1/cb", /private/],
    ["https://127.1/cb", /private/], // the URL parser normalises short forms to 127.0.0.1
    ["https://2130706433/cb", /private/], // and decimal ones
    ["https://0x7f000001/cb", /private/], // and hex ones
    ["https://10.1.2.3/cb", /private/],
    ["https://172.20.0.1/cb", /private/],
    ["https://192.168.1.10/cb", /private/],
    ["https://169.254.169.254/latest/meta-data/", /private/],
    ["https://100.64.0.1/cb", /private/],
    ["https://0.0.0.0/cb", /private/],
    ["https://[::1]/cb", /private/],
    ["https://[::ffff:127.0.0.1]/cb", /private/],
    ["https://[::ffff:a9fe:a9fe]/cb", /private/],
    ["https://[fe80::1]/cb", /private/],
    ["https://[fd00::1]/cb", /private/],
    ["https://user:secret@hooks.example.com/cb", /credentials/],
    ["ftp://hooks.example.com/cb", /https/],
    ["not a url", /valid/],
  ])("refuses %s in production", (url, reason) => {
    expect(refused(url)).toMatch(reason);
  });

  it("is lenient only in local development and tests, strict for any other environment name", () => {
    expect(refused("http://127.0.0.1:8799/cb", "dev")).toBeNull();
    expect(refused("http://localhost:8799/cb", "test")).toBeNull();
    expect(strictUrlPolicy("staging")).toBe(true);
    expect(strictUrlPolicy("qa")).toBe(true);
    expect(strictUrlPolicy(undefined)).toBe(true);
    expect(refused("http://127.0.0.1:8799/cb", "qa")).toMatch(/https/);
  });

  it("classifies address ranges at their edges", () => {
    expect(isBlockedIPv4("172.15.255.255")).toBe(false);
    expect(isBlockedIPv4("172.16.0.0")).toBe(true);
    expect(isBlockedIPv4("172.31.255.255")).toBe(true);
    expect(isBlockedIPv4("172.32.0.0")).toBe(false);
    expect(isBlockedIPv4("8.8.8.8")).toBe(false);
    expect(isBlockedIPv6("2001:db8::1")).toBe(true);
    expect(isBlockedIPv6("64:ff9b::a00:1")).toBe(true); // NAT64 of 10.0.0.1
    expect(isBlockedIPv6("2a00:1450:4001::200e")).toBe(false);
  });

  // Issue 11, finding 7: IPv6 forms that carry an IPv4 address a tunnel or translator would reach.
  it.each([
    ["6to4 of 127.0.0.1", "https://[2002:7f00:1::]/"],
    ["6to4 of 127.0.0.1, expanded and upper case", "https://[2002:7F00:0001:0000:0000:0000:0000:0001]/cb"],
    ["6to4 of 10.0.0.1", "https://[2002:a00:1::1]/cb"],
    ["6to4 of 192.168.1.1 with a port", "https://[2002:c0a8:101::]:8443/cb"],
    ["6to4 of 169.254.169.254", "https://[2002:a9fe:a9fe::]/latest/meta-data/"],
    ["Teredo, client 127.0.0.1", "https://[2001:0:4136:e378:8000:63bf:80ff:fffe]/"],
    ["Teredo, expanded", "https://[2001:0000:4136:E378:8000:63BF:80FF:FFFE]/cb"],
    ["Teredo with public addresses (refused outright)", "https://[2001:0:5db8:d822:0:0:a447:27dd]/cb"],
    ["other IETF protocol assignment (2001::/23)", "https://[2001:2::1]/cb"],
    ["NAT64 of 127.0.0.1", "https://[64:ff9b::7f00:1]/cb"],
    ["NAT64 with a dotted tail", "https://[64:ff9b::127.0.0.1]/cb"],
    ["NAT64 of 169.254.169.254, expanded", "https://[0064:ff9b:0000:0000:0000:0000:a9fe:a9fe]/cb"],
    ["local-use NAT64 64:ff9b:1::/48", "https://[64:ff9b:1::808:808]/cb"],
    ["IPv4-compatible ::127.0.0.1", "https://[::127.0.0.1]/cb"],
    ["IPv4-compatible ::10.0.0.1 in hex", "https://[::a00:1]/cb"],
    ["IPv4-compatible of a public address (deprecated, refused outright)", "https://[::8.8.8.8]/cb"],
    ["IPv4-mapped, expanded", "https://[0:0:0:0:0:FFFF:7F00:1]/cb"],
    ["IPv4-mapped with a dotted tail", "https://[::ffff:192.168.0.1]/cb"],
    ["IPv4-translated (SIIT) ::ffff:0:127.0.0.1", "https://[::ffff:0:7f00:1]/cb"],
    ["ISATAP of 10.0.0.1 on a global prefix", "https://[2001:470:1f0b::5efe:a00:1]/cb"],
    ["ISATAP (u/l bit set) of 192.168.0.1", "https://[2001:470:1f0b::200:5efe:c0a8:1]/cb"],
    ["documentation 3fff::/20", "https://[3fff::1]/cb"],
    ["an ISATAP-looking id under ::/8 (not global, whatever it carries)", "https://[::5efe:808:808]/cb"],
  ])("refuses %s (%s) in production", (_form, url) => {
    expect(refused(url)).toMatch(/private/);
  });

  it("accepts the same embeddings when the IPv4 address inside is public", () => {
    expect(refused("https://[2002:5db8:d822::1]/cb")).toBeNull(); // 6to4 of 93.184.216.34
    expect(refused("https://[64:ff9b::808:808]/cb")).toBeNull(); // NAT64 of 8.8.8.8
    expect(refused("https://[::ffff:8.8.8.8]/cb")).toBeNull();
    expect(refused("https://[2001:470:1f0b::5efe:808:808]/cb")).toBeNull(); // ISATAP of 8.8.8.8
    expect(refused("https://[2001:4860:4860::8888]/cb")).toBeNull(); // 2001: outside 2001::/23
  });

  it("classifies raw literals however they are spelt: brackets, zone ids, bad forms", () => {
    expect(isBlockedIPv6("[2002:7f00:1::]")).toBe(true);
    expect(isBlockedIPv6("2002:7F00:1::")).toBe(true);
    expect(isBlockedIPv6("fe80::1%eth0")).toBe(true);
    expect(isBlockedIPv6("2606:4700::1111%25en0")).toBe(true); // a zone is never a public endpoint
    expect(isBlockedIPv6("2606:4700::1111")).toBe(false);
    expect(isBlockedIPv6("1:2:3:4:5:6:7:8::")).toBe(true); // "::" standing for no group
    expect(isBlockedIPv6("2606:4700::1111::1")).toBe(true);
    expect(isBlockedIPv6("::ffff:300.1.1.1")).toBe(true);
    // The URL parser refuses a zone id in a URL, so it never reaches the guard as a host.
    expect(refused("https://[fe80::1%25eth0]/cb")).toMatch(/valid/);
  });

  it("assertCallbackUrl turns a refusal into a 400 naming the field", () => {
    expect(() => assertCallbackUrl("https://10.0.0.1/x", "production")).toThrowError(expect.objectContaining({ status: 400, param: "callback_url" }));
    expect(assertCallbackUrl("https://hooks.example.com/x", "production").hostname).toBe("hooks.example.com");
  });
});

describe("webhook signature", () => {
  it("verifies its own signature, and rejects a changed body, another secret or an old timestamp", async () => {
    const body = JSON.stringify({ type: "job.completed", job: { id: "job_1" } });
    const header = await signWebhook("s3cret", body, 1_800_000_000);
    expect(header).toMatch(/^t=1800000000,v1=[0-9a-f]{64}$/);
    expect(await verifyWebhook("s3cret", body, header, 1_800_000_010)).toBe(true);
    expect(await verifyWebhook("s3cret", `${body} `, header, 1_800_000_010)).toBe(false);
    expect(await verifyWebhook("other", body, header, 1_800_000_010)).toBe(false);
    expect(await verifyWebhook("s3cret", body, header, 1_800_001_000)).toBe(false);
  });
});
