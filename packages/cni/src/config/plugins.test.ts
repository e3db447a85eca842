import { describe, expect, it } from "vitest";
import { validateConflist } from "./validate";

type Json = Record<string, unknown>;
const ipam = { type: "host-local", ranges: [[{ subnet: "10.1.0.0/24" }]] };
const list = (...plugins: Json[]) => ({ cniVersion: "1.0.0", name: "n", plugins });

function errors(value: unknown): [string, string][] {
  const result = validateConflist(value);
  return result.ok ? [] : result.errors.map((e) => [e.path.join("."), e.message]);
}
function warnings(value: unknown): [string, string][] {
  return validateConflist(value).warnings.map((w) => [w.path.join("."), w.message]);
}

describe("bridge", () => {
  it("accepts documented options, and {} ipam for layer 2", () => {
    expect(errors(list({ type: "bridge", bridge: "cni0", isGateway: true, ipMasq: false, hairpinMode: true, mtu: 1500, vlan: 100, ipam }))).toEqual([]);
    expect(errors(list({ type: "bridge", ipam: {} }))).toEqual([]);
  });

  it("checks the bridge name, booleans, mtu, vlan and ipam", () => {
    expect(errors(list({ type: "bridge", bridge: "a-very-long-bridge", ipam }))).toEqual([
      ["plugins.0.bridge", 'bridge "a-very-long-bridge" is invalid: must be 1–15 characters of letters, digits, "_", "." or "-", starting with a letter or digit'],
    ]);
    expect(errors(list({ type: "bridge", bridge: "br/0", ipam }))[0]?.[1]).toContain('bridge "br/0" is invalid');
    expect(errors(list({ type: "bridge", isGateway: "yes", ipam }))).toEqual([["plugins.0.isGateway", 'isGateway must be true or false, got "yes" (a string)']]);
    expect(errors(list({ type: "bridge", mtu: "1500", ipam }))[0]?.[1]).toMatch(/^mtu must be an integer from 0 to 65535 .*got "1500" \(a string\)$/);
    expect(errors(list({ type: "bridge", vlan: 4095, ipam }))).toEqual([["plugins.0.vlan", "vlan 4095 is out of range: must be an integer from 0 to 4094 (0 for untagged)"]]);
    expect(errors(list({ type: "bridge" }))).toEqual([["plugins.0.ipam", "ipam is required for bridge: give an IPAM plugin, or {} for a layer-2-only network"]]);
  });
});

describe("macvlan and ipvlan", () => {
  it("treats master as optional but checks it and the mode", () => {
    expect(errors(list({ type: "macvlan", mode: "bridge", ipam }))).toEqual([]);
    expect(errors(list({ type: "macvlan", master: "eth 0", ipam }))[0]?.[0]).toBe("plugins.0.master");
    expect(errors(list({ type: "macvlan", master: "eth0", mode: "l2", ipam }))).toEqual([
      ["plugins.0.mode", 'mode "l2" is not supported: must be one of "bridge", "private", "vepa", "passthru"'],
    ]);
    expect(errors(list({ type: "ipvlan", master: "eth0", mode: "bridge", ipam }))).toEqual([
      ["plugins.0.mode", 'mode "bridge" is not supported: must be one of "l2", "l3", "l3s"'],
    ]);
  });

  it("requires ipvlan's ipam only when it is the main plugin", () => {
    expect(errors(list({ type: "ipvlan", master: "eth0" }))[0]).toEqual([
      "plugins.0.ipam",
      "ipam is required for ipvlan: it is required unless ipvlan is chained after another plugin",
    ]);
    expect(errors(list({ type: "bridge", ipam }, { type: "ipvlan" }))).toEqual([]);
  });
});

describe("ptp", () => {
  it("requires an ipam with a type", () => {
    expect(errors(list({ type: "ptp", ipam }))).toEqual([]);
    expect(errors(list({ type: "ptp", ipam: {} }))).toEqual([
      ["plugins.0.ipam.type", "ipam.type is required for ptp: an empty ipam leaves the link without addresses"],
    ]);
    expect(errors(list({ type: "ptp" }))[0]?.[0]).toBe("plugins.0.ipam");
  });
});

describe("chained plugins", () => {
  it("portmap: expects the portMappings capability and a boolean snat", () => {
    expect(warnings(list({ type: "bridge", ipam }, { type: "portmap", capabilities: { portMappings: true }, snat: true }))).toEqual([]);
    expect(warnings(list({ type: "bridge", ipam }, { type: "portmap" }))).toEqual([
      ["plugins.1.capabilities", 'portmap receives no port mappings without "capabilities": {"portMappings": true}'],
    ]);
    expect(errors(list({ type: "bridge", ipam }, { type: "portmap", capabilities: { portMappings: "yes" } }))).toEqual([
      ["plugins.1.capabilities.portMappings", 'capability "portMappings" must be true or false, got "yes" (a string)'],
    ]);
    expect(errors(list({ type: "bridge", ipam }, { type: "portmap", snat: 1, capabilities: { portMappings: true } }))[0]?.[1]).toBe(
      "snat must be true or false, got 1 (an integer)",
    );
    expect(warnings(list({ type: "portmap", capabilities: { portMappings: true } }))[0]).toEqual([
      "plugins.0.type",
      "portmap is a chained plugin: it expects an earlier plugin (such as bridge or ptp) in the list",
    ]);
  });

  it("bandwidth: non-negative integer rates with bursts", () => {
    expect(errors(list({ type: "bridge", ipam }, { type: "bandwidth", ingressRate: 1_000_000, ingressBurst: 100_000 }))).toEqual([]);
    expect(errors(list({ type: "bridge", ipam }, { type: "bandwidth", egressRate: -1, egressBurst: 10 }))).toEqual([
      ["plugins.1.egressRate", "egressRate -1 is out of range: must be an integer from 0 to 9007199254740991 (bits per second)"],
    ]);
    expect(errors(list({ type: "bridge", ipam }, { type: "bandwidth", ingressRate: 1.5, ingressBurst: 1 }))[0]?.[1]).toContain("got 1.5 (a number)");
    expect(errors(list({ type: "bridge", ipam }, { type: "bandwidth", ingressRate: 1000 }))).toEqual([
      ["plugins.1.ingressBurst", "ingressBurst must be set when ingressRate is 1000: the bandwidth plugin needs both"],
    ]);
    expect(errors(list({ type: "bridge", ipam }, { type: "bandwidth", shapedSubnets: ["10.0.0.0/8"], unshapedSubnets: ["10.1.0.0/16"] }))).toEqual([
      ["plugins.1.shapedSubnets", "shapedSubnets and unshapedSubnets cannot both be set: choose one"],
    ]);
    expect(errors(list({ type: "bridge", ipam }, { type: "bandwidth", unshapedSubnets: ["10.0.0.0/33"] }))[0]?.[0]).toBe("plugins.1.unshapedSubnets.0");
  });

  it("firewall: backend and ingressPolicy", () => {
    expect(errors(list({ type: "bridge", ipam }, { type: "firewall", backend: "iptables", ingressPolicy: "same-bridge" }))).toEqual([]);
    expect(errors(list({ type: "bridge", ipam }, { type: "firewall", backend: "nft" }))).toEqual([
      ["plugins.1.backend", 'backend "nft" is not supported: must be one of "iptables", "firewalld"'],
    ]);
  });

  it("tuning: sysctl string values on net.* keys, mac, mtu", () => {
    expect(errors(list({ type: "bridge", ipam }, { type: "tuning", sysctl: { "net.ipv4.conf.all.log_martians": "1" }, mac: "c2:11:22:33:44:55", mtu: 9000 }))).toEqual([]);
    expect(errors(list({ type: "bridge", ipam }, { type: "tuning", sysctl: { "net.core.somaxconn": 500 } }))).toEqual([
      ["plugins.1.sysctl.net.core.somaxconn", 'sysctl "net.core.somaxconn" must have a string value (like "1"), got 500'],
    ]);
    expect(errors(list({ type: "bridge", ipam }, { type: "tuning", sysctl: { "kernel.core_pattern": "|/x" } }))[0]?.[1]).toBe(
      'sysctl key "kernel.core_pattern" is not allowed: tuning sets only "net.*" keys, without ".."',
    );
    expect(errors(list({ type: "bridge", ipam }, { type: "tuning", mac: "c2:11:22:33:44" }))).toEqual([
      ["plugins.1.mac", 'mac "c2:11:22:33:44" is invalid: must be six hex pairs separated by ":", like "c2:11:22:33:44:55"'],
    ]);
  });
});

describe("plugin name and cniVersion", () => {
  it("warns when a plugin carries a name or version that the conflist overrides", () => {
    expect(warnings(list({ type: "loopback", name: "other", cniVersion: "1.0.0" }))).toEqual([
      ["plugins.0.name", 'name "other" in a plugin is replaced by the conflist\'s name "n" when the plugin runs'],
    ]);
  });

  it("checks dns", () => {
    expect(errors(list({ type: "x", dns: { nameservers: ["10.0.0.10", 5] } }))).toEqual([
      ["plugins.0.dns.nameservers.1", "nameservers[1] must be a string, got 5 (an integer)"],
    ]);
  });
});
