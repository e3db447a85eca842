import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { retryDelayMs, signWebhook, WEBHOOK_DEFAULTS } from "./webhookDelivery";
import { refusalOf } from "./webhookDestination";

describe("webhook signatures and back-off", () => {
  it("signs timestamp.body with HMAC-SHA256 of the secret, as the README tells receivers to check", () => {
    const body = JSON.stringify({ id: "e1", event: "host.offline", data: {} });
    const expected = createHmac("sha256", "whsec_k").update(`1700000000.${body}`).digest("hex");
    expect(signWebhook("whsec_k", "1700000000", body)).toBe(`sha256=${expected}`);
    expect(signWebhook("whsec_k", "1700000001", body)).not.toBe(`sha256=${expected}`);
  });

  it("doubles the wait after each failed attempt up to the cap, jittered to 50–100 %", () => {
    const o = { baseDelayMs: WEBHOOK_DEFAULTS.baseDelayMs, maxDelayMs: WEBHOOK_DEFAULTS.maxDelayMs };
    expect([1, 2, 3, 4].map((n) => retryDelayMs(n, o, () => 1))).toEqual([10_000, 20_000, 40_000, 80_000]);
    expect(retryDelayMs(1, o, () => 0)).toBe(5_000);
    expect(retryDelayMs(20, o, () => 1)).toBe(3600_000);
    expect(retryDelayMs(20, o, () => 0)).toBe(1800_000);
  });
});

describe("webhook destinations", () => {
  const strict = { allowLocal: false, ownPorts: [3000] };
  it("refuses loopback, link-local, unspecified and multicast addresses, IPv4-mapped forms too", () => {
    expect(refusalOf("127.0.0.53", 80, strict)?.reason).toBe("loopback");
    expect(refusalOf("::1", 80, strict)?.reason).toBe("loopback");
    expect(refusalOf("::ffff:127.0.0.1", 80, strict)?.reason).toBe("loopback");
    expect(refusalOf("169.254.169.254", 80, strict)?.reason).toBe("link-local");
    expect(refusalOf("fe80::abcd", 80, strict)?.reason).toBe("link-local");
    expect(refusalOf("::ffff:169.254.1.1", 80, strict)?.reason).toBe("link-local");
    expect(refusalOf("0.0.0.0", 80, strict)?.reason).toBe("unspecified");
    expect(refusalOf("::", 80, strict)?.reason).toBe("unspecified");
    expect(refusalOf("239.1.1.1", 80, strict)?.reason).toBe("not-unicast");
    expect(refusalOf("ff02::1", 80, strict)?.reason).toBe("not-unicast");
  });
  it("lets private and public unicast addresses through, and the admin flag lets local ones through (never multicast)", () => {
    for (const a of ["10.0.0.5", "192.168.1.10", "172.16.0.1", "fd00::1", "203.0.113.7", "2001:db8::1"]) expect(refusalOf(a, 443, strict)).toBeNull();
    const lax = { ...strict, allowLocal: true };
    expect(refusalOf("127.0.0.1", 3000, lax)).toBeNull();
    expect(refusalOf("169.254.169.254", 80, lax)).toBeNull();
    expect(refusalOf("224.0.0.1", 80, lax)?.reason).toBe("not-unicast");
  });
});
