import { describe, expect, it } from "vitest";
import { parseConfig, parseUninstallConfig } from "./config";

// Issue 12: where the agent programs the services data plane.
const parse = (argv: string[], env: Record<string, string> = {}) => parseConfig(["--console-url", "http://127.0.0.1:3000", ...argv], env, "h");

describe("--services", () => {
  it("is this host by default, checked every minute", () => {
    expect(parse([]).services).toEqual({ mode: "host" });
    expect(parse([]).servicesCheckMs).toBe(60_000);
    expect(parse([]).servicesLayout).toBe("compact");
    expect(parse(["--services-layout", "member-chains"]).servicesLayout).toBe("member-chains");
    expect(() => parse(["--services-layout", "flat"])).toThrow(/must be .*compact.* or .*member-chains/);
  });

  it("applies through netlink when it can (auto), or as told by --services-apply / SWITCHYARD_SERVICES_APPLY", () => {
    expect(parse([]).servicesApply).toBe("auto");
    expect(parse(["--services-apply", "nft"]).servicesApply).toBe("nft");
    expect(parse([], { SWITCHYARD_SERVICES_APPLY: "netlink" }).servicesApply).toBe("netlink");
    expect(() => parse(["--services-apply", "iptables"])).toThrow(/must be .*auto.*, .*netlink.* or .*nft/);
  });

  it("takes off, or a named namespace, from the flag or SWITCHYARD_SERVICES, the flag winning", () => {
    expect(parse(["--services", "off"]).services).toEqual({ mode: "off" });
    expect(parse(["--services", "netns:lab-1"]).services).toEqual({ mode: "netns", netns: "lab-1" });
    expect(parse([], { SWITCHYARD_SERVICES: "off" }).services).toEqual({ mode: "off" });
    expect(parse(["--services", "host"], { SWITCHYARD_SERVICES: "off" }).services).toEqual({ mode: "host" });
  });

  it.each(["on", "netns:", "netns:../x", "netns:a b", "netns:$(id)"])("refuses %j, saying what it takes", (value) => {
    expect(() => parse(["--services", value])).toThrow(/must be .*host.*, .*off.* or .*netns:<name>|must be a named network namespace/);
  });
});

describe("uninstall's --services", () => {
  it("is this host by default, or a named namespace; flags only, the environment is not read", () => {
    expect(parseUninstallConfig([]).services).toEqual({ mode: "host" });
    expect(parseUninstallConfig(["--services", "netns:lab-1"]).services).toEqual({ mode: "netns", netns: "lab-1" });
    const saved = process.env.SWITCHYARD_SERVICES;
    process.env.SWITCHYARD_SERVICES = "netns:from-env";
    try {
      expect(parseUninstallConfig([]).services).toEqual({ mode: "host" });
    } finally {
      if (saved === undefined) delete process.env.SWITCHYARD_SERVICES;
      else process.env.SWITCHYARD_SERVICES = saved;
    }
  });

  it.each([
    ["off", /names no place/],
    ["netns:../x", /must be a named network namespace/],
    ["elsewhere", /must be .*host.*, .*off.* or .*netns:<name>/],
  ])("refuses %j, saying what it takes", (value, problem) => {
    expect(() => parseUninstallConfig(["--services", value])).toThrow(problem);
  });
});
