import fc from "fast-check";
import { parseIp } from "@switchyard/ipam";
import { describe, expect, it } from "vitest";
import { IpAddressText, IpamLease } from "./ipam";

describe("IpAddressText", () => {
  it("accepts exactly the canonical addresses parseIp gives back (the IPv4 fast path agrees with it)", () => {
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV4Extended(), fc.ipV6(), fc.string({ maxLength: 20 })), (text) => {
        const parsed = parseIp(text);
        expect(IpAddressText.safeParse(text).success).toBe(parsed.ok && parsed.value.text === text);
      }),
      { numRuns: 3000 },
    );
    for (const bad of ["010.1.0.1", "10.1.0.256", "10.1.0", "fd00:0::1", "FD00::1", "::ffff:10.1.0.1", "../x"]) expect(IpAddressText.safeParse(bad).success).toBe(false);
  });

  it("bounds a lease's holder: a container id with a slash or newline is refused", () => {
    for (const containerId of ["../x", "a\nb", "x".repeat(257)]) {
      expect(IpamLease.safeParse({ address: "10.1.0.2", containerId, ifName: "eth0", mtimeMs: 1 }).success).toBe(false);
    }
    expect(IpamLease.safeParse({ address: "10.1.0.2", containerId: "", ifName: "", mtimeMs: 1 }).success).toBe(true);
  });
});
