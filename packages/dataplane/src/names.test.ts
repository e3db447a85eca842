import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DesiredServices } from "./desired";
import { DataplaneError } from "./errors";
import { affinitySetName, guardAddress, guardCidr, guardComment, guardIdentifier, hash8, memberChainName, serviceChainName } from "./names";

const CRAFTED = ['web"', "web;flush ruleset", "we{b}", "web\nadd rule", "web$(reboot)", "web x", "web#", "web@x", "web\\", "`id`", "web'"];
const FORBIDDEN = ['"', ";", "{", "}", "\n", "$", "(", ")", " ", "#", "@", "\\", "`", "'"];
const craftedArb = fc.tuple(fc.string({ maxLength: 20 }), fc.constantFrom(...FORBIDDEN), fc.string({ maxLength: 20 })).map(([a, bad, b]) => `web${a}${bad}${b}`);

const desired = (name: string, id = "svc1") => ({
  version: 1,
  family: 4,
  serviceCidrs: ["10.96.0.0/16"],
  services: [{ id, name, vip: "10.96.0.10", ports: [{ protocol: "tcp", port: 80, targetPort: 8080 }], affinity: null, members: [] }],
});
const port = (serviceName: string, serviceId = "svc1") => ({ serviceId, serviceName, protocol: "tcp", port: 80 });

describe("names (design §10)", () => {
  it("builds kube-proxy-style readable-hash names, IPv6 with ':' → '.'", () => {
    expect(hash8("svc1/tcp/80")).toMatch(/^[A-Z2-7]{8}$/);
    expect(serviceChainName(port("web"))).toBe(`service-${hash8("svc1/tcp/80")}-web/tcp/80`);
    expect(memberChainName(port("web"), "10.88.0.11", 8080)).toBe(`member-${hash8("svc1/tcp/80__10.88.0.11/8080")}-web/tcp/80__10.88.0.11/8080`);
    expect(affinitySetName(port("web"), "fd00:88::11", 8080)).toBe(`affinity-${hash8("svc1/tcp/80__fd00:88::11/8080")}-web/tcp/80__fd00.88..11/8080`);
    // two services of the same name (other teams) never share a chain
    expect(serviceChainName(port("web", "a1"))).not.toBe(serviceChainName(port("web", "b2")));
  });

  it("keeps the longest name under nft's 255", () => {
    const longest = affinitySetName({ serviceId: "x".repeat(40), serviceName: "a".repeat(63), protocol: "sctp", port: 65535 }, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535);
    expect(longest.length).toBe(139);
  });

  it("the schema refuses crafted service names", () => {
    for (const name of CRAFTED) expect(DesiredServices.safeParse(desired(name)).success, name).toBe(false);
    fc.assert(fc.property(craftedArb, (name) => !DesiredServices.safeParse(desired(name)).success), { numRuns: 300 });
  });

  it("the guard throws when the schema is bypassed", () => {
    for (const name of CRAFTED) {
      expect(() => serviceChainName(port(name)), name).toThrow(DataplaneError);
      expect(() => memberChainName(port(name), "10.88.0.11", 80), name).toThrow(/cannot be written into an nft transaction/);
    }
    fc.assert(
      fc.property(craftedArb, (name) => {
        expect(() => serviceChainName(port(name))).toThrow(DataplaneError);
        expect(() => guardComment(name)).toThrow(DataplaneError);
        expect(() => guardIdentifier(name)).toThrow(DataplaneError);
      }),
      { numRuns: 300 },
    );
    expect(() => memberChainName(port("web"), "10.0.0.1; flush ruleset", 80)).toThrow(DataplaneError);
    expect(() => guardAddress("10.0.0.1 }")).toThrow(DataplaneError);
    expect(() => guardCidr("10.0.0.0/8\n")).toThrow(DataplaneError);
    expect(() => guardIdentifier("1chain")).toThrow(DataplaneError);
    expect(() => guardIdentifier(`a${"b".repeat(255)}`)).toThrow(DataplaneError);
    expect(() => guardComment("x".repeat(129))).toThrow(DataplaneError);
  });
});
