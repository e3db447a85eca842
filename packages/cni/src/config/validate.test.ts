import { describe, expect, it } from "vitest";
import type { ConfigIssue, ConfigResult } from "./types";
import { validateConflist } from "./validate";

type Json = Record<string, unknown>;

function conflist(plugins: Json[], extra: Json = {}): Json {
  return { cniVersion: "1.1.0", name: "net1", ...extra, plugins };
}

const hostLocal = (ranges: unknown, extra: Json = {}) => ({ type: "host-local", ranges, ...extra });
const bridgeWith = (ipam: Json, extra: Json = {}) => conflist([{ type: "bridge", bridge: "sy0", ...extra, ipam }]);

function errorsOf(result: ConfigResult): ConfigIssue[] {
  if (result.ok) throw new Error(`expected errors, got ok with warnings ${JSON.stringify(result.warnings)}`);
  return result.errors;
}

/** The single error at `path`, so each test states exactly where the problem is reported. */
function errorAt(value: unknown, path: (string | number)[]): string {
  const errors = errorsOf(validateConflist(value));
  const matching = errors.filter((e) => JSON.stringify(e.path) === JSON.stringify(path));
  if (matching.length !== 1) throw new Error(`expected one error at ${JSON.stringify(path)}, got ${JSON.stringify(errors)}`);
  return matching[0]!.message;
}

function warningsOf(result: ConfigResult): ConfigIssue[] {
  return result.warnings;
}

describe("top-level rules", () => {
  it("accepts a minimal valid conflist", () => {
    const value = conflist([{ type: "loopback" }]);
    expect(validateConflist(value)).toEqual({ ok: true, conflist: value, warnings: [] });
  });

  it("requires a well-formed name", () => {
    expect(errorAt({ cniVersion: "1.0.0", plugins: [{ type: "x" }] }, ["name"])).toBe(
      'name is required: the network name, like "team-a-web"',
    );
    for (const bad of ["-x", "a/b", "../x", "a b", "", "é", "x".repeat(129)]) {
      expect(errorAt(conflist([{ type: "x" }], { name: bad }), ["name"])).toMatch(/^name ".*"?…? is invalid: must be 1–128 characters of letters/);
    }
    expect(errorAt(conflist([{ type: "x" }], { name: 7 }), ["name"])).toBe("name must be a string, got 7 (an integer)");
    expect(validateConflist(conflist([{ type: "x" }], { name: "a.b_c-9" })).ok).toBe(true);
  });

  it("refuses an unknown cniVersion, listing the supported ones", () => {
    expect(errorAt(conflist([{ type: "x" }], { cniVersion: "1.2.0" }), ["cniVersion"])).toBe(
      'cniVersion "1.2.0" is not supported: must be one of 0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0',
    );
    expect(errorAt({ name: "n", plugins: [{ type: "x" }] }, ["cniVersion"])).toContain("cniVersion is required");
    expect(errorAt(conflist([{ type: "x" }], { cniVersion: 1 }), ["cniVersion"])).toContain("got 1 (an integer)");
  });

  it("refuses a cniVersions list with nothing supported, saying which are", () => {
    expect(errorAt(conflist([{ type: "x" }], { cniVersions: ["2.0.0", "3.1.0"] }), ["cniVersions"])).toBe(
      'cniVersions ["2.0.0","3.1.0"] lists no supported version: this runtime supports 0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0',
    );
    expect(errorAt(conflist([{ type: "x" }], { cniVersions: "1.1.0" }), ["cniVersions"])).toContain("must be a non-empty array");
    expect(errorAt(conflist([{ type: "x" }], { cniVersions: ["1.1.0", 2] }), ["cniVersions", 1])).toBe(
      'cniVersions[1] must be a version string like "1.1.0", got 2 (an integer)',
    );
  });

  it("lets cniVersions carry a newer cniVersion, with a warning", () => {
    const result = validateConflist(conflist([{ type: "x" }], { cniVersion: "1.2.0", cniVersions: ["1.0.0", "1.1.0", "1.2.0"] }));
    expect(result.ok).toBe(true);
    expect(warningsOf(result).map((w) => [w.path, w.message])).toEqual([
      [["cniVersions"], 'cniVersions entries ["1.2.0"] are not supported and will be ignored'],
      [["cniVersion"], 'cniVersion "1.2.0" is not supported: "1.1.0" from cniVersions will be used'],
    ]);
  });

  it("accepts boolean flags and libcni's string forms", () => {
    const result = validateConflist(conflist([{ type: "x" }], { disableCheck: "TRUE", disableGC: false }));
    expect(result.ok && result.conflist.disableCheck).toBe(true);
    expect(result.ok && result.conflist.disableGC).toBe(false);
    expect(warningsOf(result)[0]).toMatchObject({ path: ["disableCheck"], message: 'disableCheck "TRUE" is a string: stored as the boolean true' });
    expect(errorAt(conflist([{ type: "x" }], { disableGC: "yes" }), ["disableGC"])).toBe('disableGC must be true or false, got "yes" (a string)');
  });

  it("requires a non-empty plugins array of objects", () => {
    expect(errorAt(conflist([]), ["plugins"])).toBe("plugins must be a non-empty array of plugin configurations, got an array");
    expect(errorAt({ cniVersion: "1.0.0", name: "n", type: "bridge" }, ["plugins"])).toContain("accepted by parseNetworkConfig");
    expect(errorAt(conflist(["bridge" as unknown as Json]), ["plugins", 0])).toBe(
      'plugins[0] must be an object with a "type", got "bridge" (a string)',
    );
  });

  it("refuses a non-object value", () => {
    expect(errorsOf(validateConflist([]))[0]).toMatchObject({ path: [], message: "a network configuration must be a JSON object, got an array" });
  });

  it("warns about unknown top-level keys", () => {
    expect(warningsOf(validateConflist(conflist([{ type: "x" }], { extra: 1 })))).toEqual([
      { path: ["extra"], severity: "warning", message: 'top-level key "extra" is not part of a CNI conflist and is ignored by runtimes' },
    ]);
  });
});

describe("plugin type (HARDENING item 1)", () => {
  it.each(["../../bin/sh", "/bin/sh", "bridge/../x", "", "bridge\\x", "a..b", " bridge", "-bridge", "br idge", "x".repeat(65)])(
    "refuses type %j",
    (type) => {
      const message = errorAt(conflist([{ type }]), ["plugins", 0, "type"]);
      expect(message.startsWith(`type ${JSON.stringify(type).slice(0, 40)}`)).toBe(true);
      expect(message).toMatch(/ is invalid: must (not be empty|be a bare plugin name|be at most 64 characters)/);
    },
  );

  it("explains what a type must be", () => {
    expect(errorAt(conflist([{ type: "../../bin/sh" }]), ["plugins", 0, "type"])).toBe(
      'type "../../bin/sh" is invalid: must be a bare plugin name (letters, digits, "_", "." or "-", starting with a letter or digit) with no "/", "\\" or ".."',
    );
    expect(errorAt(conflist([{ type: "" }]), ["plugins", 0, "type"])).toBe('type "" is invalid: must not be empty');
    expect(errorAt(conflist([{ type: 3 }]), ["plugins", 0, "type"])).toBe("type must be a string naming the plugin executable, got 3 (an integer)");
  });

  it("applies the same rules to ipam.type", () => {
    expect(errorAt(bridgeWith({ type: "/bin/sh" }), ["plugins", 0, "ipam", "type"])).toMatch(/^ipam\.type "\/bin\/sh" is invalid: must be a bare plugin name/);
    expect(errorAt(conflist([{ type: "x", ipam: { subnet: "10.0.0.0/24" } }]), ["plugins", 0, "ipam", "type"])).toBe(
      'ipam.type is required: the name of the plugin executable, like "host-local"',
    );
  });

  it("allows unknown third-party plugins with only the generic rules", () => {
    expect(validateConflist(conflist([{ type: "cilium-cni", anything: { goes: [1, 2] } }])).ok).toBe(true);
  });
});

describe("reserved keys and unsafe strings", () => {
  it.each(["runtimeConfig", "args", "prevResult", "cni.dev/attachments"])("refuses %s at top level and in plugins", (key) => {
    expect(errorAt(conflist([{ type: "x" }], { [key]: {} }), [key])).toBe(
      `${key} is reserved for the runtime and not allowed in a stored network configuration: remove it`,
    );
    expect(errorAt(conflist([{ type: "x", [key]: {} }]), ["plugins", 0, key])).toBe(
      `${key} is reserved for the runtime and not allowed in a stored plugin configuration: remove it`,
    );
  });

  it("refuses newlines and NUL in any string, naming the path", () => {
    expect(errorAt(conflist([{ type: "bridge", bridge: "sy0\n-j ACCEPT", ipam: {} }]), ["plugins", 0, "bridge"])).toBe(
      "bridge contains a line break (U+000A): strings in a network config must be a single line without control characters",
    );
    expect(errorAt(conflist([{ type: "x", deep: { list: ["ok", "bad\u0000"] } }]), ["plugins", 0, "deep", "list", 1])).toContain(
      "list contains a NUL byte (U+0000)",
    );
    expect(errorAt(conflist([{ type: "x", "k\r": 1 }]), ["plugins", 0, "k\r"])).toContain("contains a line break (U+000D)");
  });

  it("refuses __proto__ keys", () => {
    const value = JSON.parse('{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"x","__proto__":{"polluted":true}}]}');
    expect(errorAt(value, ["plugins", 0, "__proto__"])).toBe('key "__proto__" is not allowed in a network config');
  });

  it("refuses nesting deeper than the limit without recursion", () => {
    let deep: unknown = {};
    for (let i = 0; i < 10_000; i++) deep = [deep];
    const errors = errorsOf(validateConflist(conflist([{ type: "x", deep }])));
    expect(errors).toHaveLength(1);
    expect(errors[0]?.message).toBe("configuration nests deeper than 32 levels at deep: flatten it");
  });
});

describe("host-local IPAM", () => {
  it("accepts ranges, legacy fields and dual-stack range sets", () => {
    const dual = hostLocal(
      [[{ subnet: "10.1.0.0/24", rangeStart: "10.1.0.10", rangeEnd: "10.1.0.200", gateway: "10.1.0.1" }], [{ subnet: "fd00:1::/64", gateway: "fd00:1::1" }]],
      { routes: [{ dst: "0.0.0.0/0" }, { dst: "::/0", gw: "fd00:1::1" }] },
    );
    expect(validateConflist(bridgeWith(dual))).toMatchObject({ ok: true, warnings: [] });
    const legacy = { type: "host-local", subnet: "10.2.0.0/16", rangeStart: "10.2.1.0", rangeEnd: "10.2.1.255", gateway: "10.2.0.1" };
    expect(validateConflist(bridgeWith(legacy))).toMatchObject({ ok: true, warnings: [] });
  });

  it("refuses a gateway outside its subnet", () => {
    expect(errorAt(bridgeWith(hostLocal([[{ subnet: "10.2.0.0/24", gateway: "10.1.0.1" }]])), ["plugins", 0, "ipam", "ranges", 0, 0, "gateway"])).toBe(
      'gateway "10.1.0.1" is outside subnet "10.2.0.0/24": pick an address inside it',
    );
    expect(errorAt(bridgeWith({ type: "host-local", subnet: "10.2.0.0/24", gateway: "10.1.0.1" }), ["plugins", 0, "ipam", "gateway"])).toBe(
      'gateway "10.1.0.1" is outside subnet "10.2.0.0/24": pick an address inside it',
    );
    expect(errorAt(bridgeWith(hostLocal([[{ subnet: "fd00::/64", gateway: "10.0.0.1" }]])), ["plugins", 0, "ipam", "ranges", 0, 0, "gateway"])).toBe(
      'gateway "10.0.0.1" is IPv4 but subnet "fd00::/64" is IPv6',
    );
  });

  it("refuses a range outside its subnet or out of order", () => {
    const base = ["plugins", 0, "ipam", "ranges", 0, 0];
    expect(errorAt(bridgeWith(hostLocal([[{ subnet: "10.1.0.0/24", rangeStart: "10.1.1.10" }]])), [...base, "rangeStart"])).toBe(
      'rangeStart "10.1.1.10" is outside subnet "10.1.0.0/24": must be between "10.1.0.0" and "10.1.0.255"',
    );
    expect(errorAt(bridgeWith(hostLocal([[{ subnet: "fd00:1::/64", rangeEnd: "fd00:2::5" }]])), [...base, "rangeEnd"])).toBe(
      'rangeEnd "fd00:2::5" is outside subnet "fd00:1::/64": must be between "fd00:1::" and "fd00:1::ffff:ffff:ffff:ffff"',
    );
    expect(errorAt(bridgeWith(hostLocal([[{ subnet: "10.1.0.0/24", rangeStart: "10.1.0.50", rangeEnd: "10.1.0.10" }]])), [...base, "rangeStart"])).toBe(
      'rangeStart "10.1.0.50" is after rangeEnd "10.1.0.10": the start must not be greater than the end',
    );
  });

  it("refuses malformed CIDRs and addresses with the reason", () => {
    const base = ["plugins", 0, "ipam", "ranges", 0, 0];
    expect(errorAt(bridgeWith(hostLocal([[{ subnet: "10.1.0.0/33" }]])), [...base, "subnet"])).toBe(
      'subnet "10.1.0.0/33" has an invalid prefix length "33": expected a decimal number 0–32 for IPv4',
    );
    expect(errorAt(bridgeWith(hostLocal([[{ subnet: "fd00::/64", rangeStart: "fd00::g" }]])), [...base, "rangeStart"])).toBe(
      'rangeStart "fd00::g" is not a valid IPv6 address',
    );
    expect(errorAt(bridgeWith(hostLocal([[{ subnet: 10 }]])), [...base, "subnet"])).toBe('subnet must be a CIDR string like "10.1.0.0/24", got 10 (an integer)');
    expect(errorAt(bridgeWith(hostLocal([[{ subnet: "10.1.0.0/31" }]])), [...base, "subnet"])).toBe(
      'subnet "10.1.0.0/31" is too small to allocate from: host-local needs a prefix of /30 or shorter',
    );
    expect(errorAt(bridgeWith(hostLocal([[{ rangeStart: "10.0.0.1" }]])), [...base, "subnet"])).toContain("subnet is required");
  });

  it("requires one family per range set and no overlapping ranges", () => {
    expect(errorAt(bridgeWith(hostLocal([[{ subnet: "10.1.0.0/24" }, { subnet: "fd00::/64" }]])), ["plugins", 0, "ipam", "ranges", 0])).toBe(
      'range set 0 mixes IPv4 and IPv6 subnets: one range set is one family, put the IPv6 subnet "fd00::/64" in its own set',
    );
    expect(errorAt(bridgeWith(hostLocal([[{ subnet: "10.1.0.0/16" }], [{ subnet: "10.1.2.0/24" }]])), ["plugins", 0, "ipam", "ranges", 1, 0, "subnet"])).toBe(
      'subnet "10.1.2.0/24" (10.1.2.1–10.1.2.254) overlaps subnet "10.1.0.0/16" (10.1.0.1–10.1.255.254) of this same ipam: host-local refuses overlapping ranges',
    );
    // As host-local's Range.Overlaps: ranges that split one subnet between them do not overlap (a reservation's hole).
    const split = bridgeWith(hostLocal([[{ subnet: "10.1.0.0/24", rangeStart: "10.1.0.2", rangeEnd: "10.1.0.9" }, { subnet: "10.1.0.0/24", rangeStart: "10.1.0.13", rangeEnd: "10.1.0.254" }]]));
    expect(validateConflist(split)).toMatchObject({ ok: true });
    const meeting = bridgeWith(hostLocal([[{ subnet: "10.1.0.0/24", rangeStart: "10.1.0.2", rangeEnd: "10.1.0.20" }, { subnet: "10.1.0.0/24", rangeStart: "10.1.0.20", rangeEnd: "10.1.0.254" }]]));
    expect(errorAt(meeting, ["plugins", 0, "ipam", "ranges", 0, 1, "subnet"])).toContain("overlaps");
  });

  it("requires at least one range, and well-formed routes", () => {
    expect(errorAt(bridgeWith({ type: "host-local" }), ["plugins", 0, "ipam", "ranges"])).toBe(
      'host-local needs at least one range: add "ranges": [[{"subnet": "10.1.0.0/24"}]]',
    );
    expect(errorAt(bridgeWith(hostLocal([[{ subnet: "10.1.0.0/24" }]], { routes: [{ dst: "0.0.0.0/0", gw: "fd00::1" }] })), ["plugins", 0, "ipam", "routes", 0, "gw"])).toBe(
      'gw "fd00::1" is IPv6 but dst "0.0.0.0/0" is IPv4',
    );
    expect(errorAt(bridgeWith(hostLocal([[{ subnet: "10.1.0.0/24" }]], { routes: [{ gw: "10.1.0.1" }] })), ["plugins", 0, "ipam", "routes", 0, "dst"])).toContain(
      "dst is required",
    );
  });

  it("warns about a subnet with host bits set, naming the network", () => {
    const result = validateConflist(bridgeWith(hostLocal([[{ subnet: "10.1.0.5/24" }]])));
    expect(result.ok).toBe(true);
    expect(warningsOf(result)).toEqual([
      {
        path: ["plugins", 0, "ipam", "ranges", 0, 0, "subnet"],
        severity: "warning",
        message:
          'subnet "10.1.0.5/24" has host bits set: the network is "10.1.0.0/24"; host-local allocates after "10.1.0.5", write "10.1.0.0/24" to use the whole subnet',
      },
    ]);
  });

  it("limits pre-0.3.0 configs to one range set per family", () => {
    const value = { ...bridgeWith(hostLocal([[{ subnet: "10.1.0.0/24" }], [{ subnet: "10.2.0.0/24" }]])), cniVersion: "0.2.0" };
    expect(errorAt(value, ["plugins", 0, "ipam", "ranges"])).toBe('cniVersion "0.2.0" allows one IPv4 range set: use cniVersion 0.3.0 or later for more');
  });
});

describe("static IPAM", () => {
  it("accepts addresses with host parts and checks gateways", () => {
    const ok = bridgeWith({ type: "static", addresses: [{ address: "10.1.0.5/24", gateway: "10.1.0.1" }, { address: "fd00::5/64" }] });
    expect(validateConflist(ok)).toMatchObject({ ok: true, warnings: [] });
    expect(errorAt(bridgeWith({ type: "static", addresses: [{ address: "10.1.0.5" }] }), ["plugins", 0, "ipam", "addresses", 0, "address"])).toBe(
      'address "10.1.0.5" is not a valid CIDR: "10.1.0.5" has no prefix length: write it as address/prefix, like "10.1.0.0/24"'.replace(
        ' is not a valid CIDR: "10.1.0.5"',
        "",
      ),
    );
    expect(errorAt(bridgeWith({ type: "static", addresses: [{ address: "10.1.0.5/24", gateway: "10.9.0.1" }] }), ["plugins", 0, "ipam", "addresses", 0, "gateway"])).toBe(
      'gateway "10.9.0.1" is outside subnet "10.1.0.0/24": pick an address inside it',
    );
  });
});
