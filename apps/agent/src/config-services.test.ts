import { describe, expect, it } from "vitest";
import { parseConfig } from "./config";

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
