import { describe, expect, it } from "vitest";
import { TargetError, linksInUse, netnsPathOf } from "./targets";

const link = (ifname: string) => ({ ifindex: 1, ifname, flags: ["LOOPBACK"], mtu: 65536, operstate: "UNKNOWN" });

describe("sandbox namespaces", () => {
  it("a namespace with only its own links (loopback, the tunnel modules' fallback devices) is not in use", () => {
    expect(linksInUse(JSON.stringify([link("lo"), link("tunl0"), link("sit0"), link("gre0"), link("ip6tnl0")]))).toEqual([]);
    expect(linksInUse("")).toEqual([]);
  });

  it("a namespace that still holds another attachment's interface is in use", () => {
    expect(linksInUse(JSON.stringify([link("lo"), link("eth1"), link("net2")]))).toEqual(["eth1", "net2"]);
  });

  it("output that is not ip's JSON is an error that shows it", () => {
    expect(() => linksInUse("Object \"link\" is unknown")).toThrow(TargetError);
    expect(() => linksInUse("Object \"link\" is unknown")).toThrow(/printed no JSON: "Object \\"link\\" is unknown"/);
  });

  it("netns paths are re-validated whatever the console sent", () => {
    expect(netnsPathOf("sandbox", "web-1", "/run/netns")).toBe("/run/netns/web-1");
    expect(netnsPathOf("pid", "4242", "/run/netns")).toBe("/proc/4242/ns/net");
    expect(() => netnsPathOf("netns", "../../proc/1/ns/net", "/run/netns")).toThrow('invalid namespace name "../../proc/1/ns/net"');
    expect(() => netnsPathOf("pid", "1", "/run/netns")).toThrow('invalid pid "1"');
  });
});
