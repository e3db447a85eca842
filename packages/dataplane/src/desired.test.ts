import { describe, expect, it } from "vitest";
import { DesiredServices, isSelectable, memberAddressProblem } from "./desired";

const member = (address: string, extra: Partial<Record<string, unknown>> = {}) => ({ address, port: null, weight: 100, state: "active", health: "none", localCidr: null, ...extra });
const service = (extra: Partial<Record<string, unknown>> = {}) => ({
  id: "svc1",
  name: "web",
  vip: "10.96.0.10",
  ports: [{ protocol: "tcp", port: 80, targetPort: 8080 }],
  affinity: null,
  members: [member("10.88.0.11")],
  ...extra,
});
const desired = (services: unknown[], extra: Partial<Record<string, unknown>> = {}) => ({ version: 1, family: 4, serviceCidrs: ["10.96.0.0/16"], services, ...extra });

describe("DesiredServices", () => {
  it("accepts a plain service", () => {
    expect(DesiredServices.safeParse(desired([service()])).success).toBe(true);
  });

  it("refuses names and ids that could break out of a rule", () => {
    for (const name of ['web"', "web;", "web x", "Web", "-web", "web-", "a".repeat(64), "web\nflush ruleset", "we{b}"]) {
      const r = DesiredServices.safeParse(desired([service({ name })]));
      expect(r.success, name).toBe(false);
    }
    expect(DesiredServices.safeParse(desired([service({ id: "svc 1" })])).success).toBe(false);
  });

  it("refuses addresses not in canonical form, of the other family, and members that are loopback or link-local", () => {
    expect(DesiredServices.safeParse(desired([service({ vip: "10.96.0.010" })])).success).toBe(false);
    expect(DesiredServices.safeParse(desired([service({ vip: "fd00::10" })])).success).toBe(false);
    for (const a of ["127.0.0.1", "169.254.1.1", "0.0.0.0", "224.0.0.1"]) {
      const r = DesiredServices.safeParse(desired([service({ members: [member(a)] })]));
      expect(r.success, a).toBe(false);
      if (!r.success) expect(r.error.issues[0]!.message).toContain(a);
    }
    expect(DesiredServices.safeParse(desired([service({ members: [member("10.88.0.11", { weight: 1001 })] })])).success).toBe(false);
    expect(DesiredServices.safeParse(desired([], { serviceCidrs: ["10.96.0.1/16"] })).success).toBe(false);
  });

  it("refuses a port or member listed twice and two services on one VIP", () => {
    const twice = service({ ports: [{ protocol: "tcp", port: 80, targetPort: 1 }, { protocol: "tcp", port: 80, targetPort: 2 }] });
    expect(DesiredServices.safeParse(desired([twice])).success).toBe(false);
    expect(DesiredServices.safeParse(desired([service({ members: [member("10.88.0.11"), member("10.88.0.11")] })])).success).toBe(false);
    expect(DesiredServices.safeParse(desired([service(), service({ id: "svc2", name: "api" })])).success).toBe(false);
    const sameId = DesiredServices.safeParse(desired([service(), service({ name: "api", vip: "10.96.0.11" })]));
    expect(sameId.success).toBe(false);
    if (!sameId.success) expect(sameId.error.issues[0]!.message).toBe("service id svc1 is listed twice");
  });

  it("refuses a member without a port beside the same address naming the port's targetPort (one destination, one chain)", () => {
    const r = DesiredServices.safeParse(desired([service({ members: [member("10.88.0.11"), member("10.88.0.11", { port: 8080 })] })]));
    expect(r.success).toBe(false);
    if (!r.success) expect(r.error.issues[0]!.message).toContain("10.88.0.11:8080 is listed twice for port tcp/80");
    expect(DesiredServices.safeParse(desired([service({ members: [member("10.88.0.11"), member("10.88.0.11", { port: 9090 })] })])).success).toBe(true);
  });
});

describe("memberAddressProblem and isSelectable", () => {
  it("names IPv6 loopback, link-local and multicast, and passes ordinary addresses", () => {
    expect(memberAddressProblem("::1")).toContain("loopback");
    expect(memberAddressProblem("fe80::1")).toContain("link-local");
    expect(memberAddressProblem("ff02::1")).toContain("multicast");
    expect(memberAddressProblem("fd00:88::11")).toBeNull();
    expect(memberAddressProblem("10.88.0.11")).toBeNull();
  });

  it("takes only active members with weight whose health is not unhealthy", () => {
    expect(isSelectable({ state: "active", weight: 1, health: "unknown" })).toBe(true);
    expect(isSelectable({ state: "active", weight: 0, health: "healthy" })).toBe(false);
    expect(isSelectable({ state: "draining", weight: 5, health: "healthy" })).toBe(false);
    expect(isSelectable({ state: "active", weight: 5, health: "unhealthy" })).toBe(false);
  });
});
