import { describe, expect, it } from "vitest";
import { CniError } from "../errors";
import { convertResult, parseResult } from "./convert";

const v100 = {
  cniVersion: "1.0.0",
  interfaces: [{ name: "eth0", mac: "0a:58:0a:01:00:05", sandbox: "/run/netns/a" }],
  ips: [
    { address: "10.1.0.5/24", gateway: "10.1.0.1", interface: 0 },
    { address: "10.1.0.6/24", interface: 0 },
    { address: "fd00::5/64", gateway: "fd00::1", interface: 0 },
  ],
  routes: [{ dst: "0.0.0.0/0", gw: "10.1.0.1" }, { dst: "::/0" }],
  dns: { nameservers: ["10.1.0.1"] },
};

describe("results", () => {
  it("reads every supported version into the 1.1.0 shape", () => {
    const r = parseResult({ cniVersion: "0.2.0", ip4: { ip: "10.1.0.5/24", gateway: "10.1.0.1", routes: [{ dst: "0.0.0.0/0" }] }, ip6: { ip: "fd00::5/64" } }, "0.2.0");
    expect(r).toEqual({ cniVersion: "1.1.0", ips: [{ address: "10.1.0.5/24", gateway: "10.1.0.1" }, { address: "fd00::5/64" }], routes: [{ dst: "0.0.0.0/0" }] });
    const r040 = parseResult({ cniVersion: "0.4.0", ips: [{ version: "4", address: "10.1.0.5/24" }] }, "0.4.0");
    expect(r040.ips).toEqual([{ address: "10.1.0.5/24" }]);
    for (const v of ["0.1.0", "0.3.0", "0.3.1", "1.0.0", "1.1.0"]) expect(parseResult({ cniVersion: v }, v).cniVersion).toBe("1.1.0");
  });

  it("uses the config's version for a result without cniVersion (libcni #895)", () => {
    expect(parseResult({ ip4: { ip: "10.0.0.2/24" } }, "0.2.0").ips).toEqual([{ address: "10.0.0.2/24" }]);
  });

  it("refuses malformed results with decode errors naming the field", () => {
    expect(() => parseResult({ cniVersion: "1.0.0", ips: [{ address: "10.1.0.300/24" }] }, "1.0.0")).toThrow(/ips\[0\]\.address/);
    expect(() => parseResult({ cniVersion: "1.0.0", ips: [{ address: "10.1.0.3/24", interface: "0" }] }, "1.0.0")).toThrow(/interface/);
    expect(() => parseResult({ cniVersion: "1.0.0", ips: [{ address: null }] }, "1.0.0")).toThrow(/ips\[0\]\.address: is required/);
    expect(() => parseResult({ cniVersion: "0.4.0", ips: [{ version: "6", address: "10.1.0.3/24" }] }, "0.4.0")).toThrow(/version/);
    expect(() => parseResult({ cniVersion: "9.9.9" }, "1.0.0")).toThrow(CniError);
    expect(() => parseResult("x", "1.0.0")).toThrow(/JSON object/);
  });

  it("converts down to 0.4.0 adding ip versions and dropping 1.1-only fields", () => {
    const r = parseResult({ ...v100, cniVersion: "1.1.0", interfaces: [{ name: "eth0", mtu: 1400, pciID: "0000:00:01.0" }], routes: [{ dst: "0.0.0.0/0", mtu: 1400, table: 100 }] }, "1.1.0");
    expect(r.interfaces).toEqual([{ name: "eth0", mtu: 1400, pciID: "0000:00:01.0" }]);
    const down = convertResult(r, "0.4.0");
    expect(down.interfaces).toEqual([{ name: "eth0" }]);
    expect(down.routes).toEqual([{ dst: "0.0.0.0/0" }]);
    expect((down.ips as { version: string }[]).map((i) => i.version)).toEqual(["4", "4", "6"]);
    expect(convertResult(r, "1.0.0").routes).toEqual([{ dst: "0.0.0.0/0" }]);
    expect(convertResult(r, "1.1.0").routes).toEqual([{ dst: "0.0.0.0/0", mtu: 1400, table: 100 }]);
  });

  it("converts down to 0.2.0 keeping the first address of each family and their routes", () => {
    const down = convertResult(parseResult(v100, "1.0.0"), "0.2.0");
    expect(down).toEqual({
      cniVersion: "0.2.0",
      ip4: { ip: "10.1.0.5/24", gateway: "10.1.0.1", routes: [{ dst: "0.0.0.0/0", gw: "10.1.0.1" }] },
      ip6: { ip: "fd00::5/64", gateway: "fd00::1", routes: [{ dst: "::/0" }] },
      dns: { nameservers: ["10.1.0.1"] },
    });
    expect(() => convertResult(parseResult({ cniVersion: "1.0.0", interfaces: [{ name: "x" }] }, "1.0.0"), "0.2.0")).toThrow(/at least one IP/);
  });

  it("round-trips 0.3.1 through the 1.1.0 shape", () => {
    const v031 = { cniVersion: "0.3.1", interfaces: [{ name: "eth0", sandbox: "/x" }], ips: [{ version: "4", address: "10.1.0.5/24", gateway: "10.1.0.1", interface: 0 }], routes: [{ dst: "0.0.0.0/0" }] };
    expect(convertResult(parseResult(v031, "0.3.1"), "0.3.1")).toEqual(v031);
    const up = convertResult(parseResult({ cniVersion: "0.1.0", ip4: { ip: "10.1.0.5/24" } }, "0.1.0"), "1.0.0");
    expect(up).toEqual({ cniVersion: "1.0.0", ips: [{ address: "10.1.0.5/24" }] });
  });

  // Issue 17 item 5: what libcni (types100.Result via encoding/json) accepts, this accepts.
  it("reads null optional fields as absent, as libcni's decoder does", () => {
    const r = parseResult(
      {
        cniVersion: "1.0.0",
        interfaces: [{ name: "eth0", mac: null, sandbox: null }],
        ips: [{ address: "10.1.0.5/24", gateway: null, interface: null }],
        routes: [{ dst: "0.0.0.0/0", gw: null }],
        dns: { domain: null, nameservers: null },
      },
      "1.0.0",
    );
    expect(r).toEqual({ cniVersion: "1.1.0", interfaces: [{ name: "eth0" }], ips: [{ address: "10.1.0.5/24" }], routes: [{ dst: "0.0.0.0/0" }] });
    expect(parseResult({ cniVersion: "0.2.0", ip4: { ip: "10.1.0.5/24", gateway: null } }, "0.2.0").ips).toEqual([{ address: "10.1.0.5/24" }]);
  });

  it("keeps an interface index that names no interface and reports it instead of failing", () => {
    const issues: CniError[] = [];
    const r = parseResult({ cniVersion: "1.0.0", interfaces: [{ name: "eth0" }], ips: [{ address: "10.1.0.3/24", interface: 2 }, { address: "10.1.0.4/24", interface: -1 }] }, "1.0.0", (e) => issues.push(e));
    expect(r.ips).toEqual([{ address: "10.1.0.3/24", interface: 2 }, { address: "10.1.0.4/24", interface: -1 }]);
    expect(issues.map((e) => e.details)).toEqual(["ips[0].interface: index 2 names none of the 1 interfaces", "ips[1].interface: index -1 names none of the 1 interfaces"]);
    expect(convertResult(r, "1.0.0").ips).toEqual([{ address: "10.1.0.3/24", interface: 2 }, { address: "10.1.0.4/24", interface: -1 }]);
  });
});
