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
