import { type TestNetns, createNetnsPool, listLinks, run } from "@switchyard/cni/test-host";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { SINK_DEVICE, SINK_PEER, SWITCHYARD_ROUTE_PROTOCOL, ensureServiceRoutes, readServiceRoutes, removeServiceRoutes } from "../src/services/routes";
import { isRoot } from "./harness";
import { addUplink, udpConnect } from "./support/host-netns";

// VIP reachability on a host (design §8), in a namespace standing in for the host: the
// blackhole over the service CIDR, a /32 on the sink per programmed VIP, only our own routes.
describe.skipIf(!isRoot)("service routes: blackhole + sink (design §8)", () => {
  const pool = createNetnsPool();
  let ns: TestNetns;
  afterAll(() => pool.cleanup());
  beforeEach(async () => {
    ns = await pool.create();
    await addUplink(ns);
  });

  const routesText = async (family: 4 | 6) => (await run("ip", ["-n", ns.name, `-${family}`, "route", "show", "table", "main"])).stdout;

  it("routes programmed VIPs, blackholes the rest of the CIDR, and is idempotent", async () => {
    // Before: the uplink's default route carries anything, VIP or not.
    expect(await udpConnect(ns.name, "10.241.0.11")).toMatchObject({ ok: true });

    const first = await ensureServiceRoutes({ netns: ns.name, serviceCidrs: ["10.241.0.0/16"], vips: ["10.241.0.10", "10.241.0.20"] });
    expect(first.device).toBe("created");
    expect(first.added.map((r) => `${r.kind} ${r.dst}`).sort()).toEqual(["blackhole 10.241.0.0/16", "sink 10.241.0.10/32", "sink 10.241.0.20/32"]);

    expect(await udpConnect(ns.name, "10.241.0.10")).toMatchObject({ ok: true });
    expect(await udpConnect(ns.name, "10.241.0.20")).toMatchObject({ ok: true });
    expect(await udpConnect(ns.name, "10.241.0.11")).toEqual({ ok: false, code: "EINVAL" });
    expect(await udpConnect(ns.name, "10.241.255.254")).toEqual({ ok: false, code: "EINVAL" });
    // Outside the service CIDR nothing changed.
    expect(await udpConnect(ns.name, "10.242.0.1")).toMatchObject({ ok: true });

    const get = await run("ip", ["-n", ns.name, "route", "get", "10.241.0.10"]);
    expect(get.stdout).toContain(`dev ${SINK_DEVICE}`);
    const blackholed = await run("ip", ["-n", ns.name, "route", "get", "10.241.0.11"], { check: false });
    expect(blackholed.code).not.toBe(0);
    expect(blackholed.stderr).toMatch(/Invalid argument/);
    expect(await routesText(4)).toContain(`blackhole 10.241.0.0/16 proto ${SWITCHYARD_ROUTE_PROTOCOL}`);

    // The sink is a veth whose peer stays down: what is routed there goes nowhere.
    const links = await listLinks(ns.name);
    expect(links.find((l) => l.ifname === SINK_DEVICE)).toMatchObject({ kind: "veth" });
    expect(links.find((l) => l.ifname === SINK_PEER)?.flags).not.toContain("UP");

    const again = await ensureServiceRoutes({ netns: ns.name, serviceCidrs: ["10.241.0.0/16"], vips: ["10.241.0.20", "10.241.0.10"] });
    expect(again).toEqual({ added: [], removed: [], addresses: { added: [], removed: [] }, device: "unchanged", warnings: [] });
  });

  it("a proxy VIP is an address of the sink (issue 14): local, bindable, kept apart from the routed VIPs; the sink stays while only proxy VIPs remain", async () => {
    const addressesOf = async () => JSON.parse((await run("ip", ["-n", ns.name, "-j", "addr", "show", "dev", SINK_DEVICE])).stdout)[0].addr_info.filter((a: { scope: string }) => a.scope !== "link").map((a: { local: string; prefixlen: number }) => `${a.local}/${a.prefixlen}`);
    const first = await ensureServiceRoutes({ netns: ns.name, serviceCidrs: ["10.241.0.0/16"], vips: ["10.241.0.10"], proxyVips: ["10.241.0.30"] });
    expect(first.addresses).toEqual({ added: ["10.241.0.30/32"], removed: [] });
    expect(first.added.map((r) => `${r.kind} ${r.dst}`).sort()).toEqual(["blackhole 10.241.0.0/16", "sink 10.241.0.10/32"]);
    expect(await addressesOf()).toEqual(["10.241.0.30/32"]);
    // Local: the kernel delivers it here (the local table wins over the CIDR's blackhole).
    expect((await run("ip", ["-n", ns.name, "route", "get", "10.241.0.30"])).stdout).toMatch(/^local 10\.241\.0\.30 dev lo/);
    const again = await ensureServiceRoutes({ netns: ns.name, serviceCidrs: ["10.241.0.0/16"], vips: ["10.241.0.10"], proxyVips: ["10.241.0.30"] });
    expect(again.addresses).toEqual({ added: [], removed: [] });

    // The routed VIP goes; the proxy's keeps the sink.
    const only = await ensureServiceRoutes({ netns: ns.name, serviceCidrs: ["10.241.0.0/16"], vips: [], proxyVips: ["10.241.0.30"] });
    expect(only.device).toBe("unchanged");
    expect(await addressesOf()).toEqual(["10.241.0.30/32"]);
    const none = await ensureServiceRoutes({ netns: ns.name, serviceCidrs: ["10.241.0.0/16"], vips: [], proxyVips: [] });
    expect(none.device).toBe("removed");
    expect((await listLinks(ns.name)).some((l) => l.ifname === SINK_DEVICE)).toBe(false);
  });

  it("removing a VIP removes its route; a foreign route in the CIDR stays; remove leaves nothing of ours", async () => {
    await run("ip", ["-n", ns.name, "route", "add", "10.241.0.99/32", "via", "10.99.0.254", "proto", "static"]);
    await ensureServiceRoutes({ netns: ns.name, serviceCidrs: ["10.241.0.0/16"], vips: ["10.241.0.10", "10.241.0.20"] });

    const changes = await ensureServiceRoutes({ netns: ns.name, serviceCidrs: ["10.241.0.0/16"], vips: ["10.241.0.10"] });
    expect(changes.removed).toEqual([{ kind: "sink", dst: "10.241.0.20/32" }]);
    expect(changes.added).toEqual([]);
    expect(await udpConnect(ns.name, "10.241.0.20")).toEqual({ ok: false, code: "EINVAL" });
    expect(await udpConnect(ns.name, "10.241.0.10")).toMatchObject({ ok: true });
    expect(await udpConnect(ns.name, "10.241.0.99")).toMatchObject({ ok: true, source: "10.99.0.1" });

    const removed = await removeServiceRoutes({ netns: ns.name });
    expect(removed.device).toBe("removed");
    expect(await readServiceRoutes({ netns: ns.name })).toEqual([]);
    expect((await listLinks(ns.name)).map((l) => l.ifname)).not.toContain(SINK_DEVICE);
    expect(await routesText(4)).not.toContain(`proto ${SWITCHYARD_ROUTE_PROTOCOL}`);
    expect(await routesText(4)).toContain("10.241.0.99 via 10.99.0.254 dev syup0 proto static");
    // Back to the uplink: nothing of ours drops or sinks the CIDR any more.
    expect(await udpConnect(ns.name, "10.241.0.11")).toMatchObject({ ok: true });
    expect(await removeServiceRoutes({ netns: ns.name })).toEqual({ added: [], removed: [], addresses: { added: [], removed: [] }, device: "unchanged", warnings: [] });
  });

  it("IPv6 with `family`: /128 on the sink, and the other family's routes are left as they are", async () => {
    await ensureServiceRoutes({ netns: ns.name, family: 4, serviceCidrs: ["10.241.0.0/16"], vips: ["10.241.0.10"] });
    await ensureServiceRoutes({ netns: ns.name, family: 6, serviceCidrs: ["fd00:241::/112"], vips: ["fd00:241::10"] });
    expect(await udpConnect(ns.name, "fd00:241::10")).toMatchObject({ ok: true });
    expect(await udpConnect(ns.name, "fd00:241::11")).toEqual({ ok: false, code: "EINVAL" });
    expect(await udpConnect(ns.name, "10.241.0.10")).toMatchObject({ ok: true });
    expect(await udpConnect(ns.name, "10.241.0.11")).toEqual({ ok: false, code: "EINVAL" });

    // IPv4 loses its VIPs: the sink stays for IPv6's.
    const v4 = await ensureServiceRoutes({ netns: ns.name, family: 4, serviceCidrs: ["10.241.0.0/16"], vips: [] });
    expect(v4.device).toBe("unchanged");
    expect(await udpConnect(ns.name, "fd00:241::10")).toMatchObject({ ok: true });
    expect(await readServiceRoutes({ netns: ns.name })).toEqual([
      { kind: "blackhole", dst: "10.241.0.0/16" },
      { kind: "blackhole", dst: "fd00:241::/112" },
      { kind: "sink", dst: "fd00:241::10/128" },
    ]);
    await removeServiceRoutes({ netns: ns.name });
    expect(await readServiceRoutes({ netns: ns.name })).toEqual([]);
  });

  it("refuses bad input before changing anything, naming the value", async () => {
    await ensureServiceRoutes({ netns: ns.name, serviceCidrs: ["10.241.0.0/16"], vips: ["10.241.0.10"] });
    const before = await routesText(4);
    for (const bad of [
      { serviceCidrs: ["10.241.0.1/16"], vips: [] },
      { serviceCidrs: ["10.241.0.0/16"], vips: ["10.241.0.010"] },
      { serviceCidrs: ["10.241.0.0/16"], vips: ["10.241.0.10 dev syup0"] },
      { serviceCidrs: ["10.241.0.0/16\nroute flush table main"], vips: [] },
      { family: 4 as const, serviceCidrs: ["fd00:241::/112"], vips: [] },
    ]) {
      await expect(ensureServiceRoutes({ netns: ns.name, ...bad })).rejects.toThrow(/service routes refused/);
    }
    await expect(ensureServiceRoutes({ netns: "../../proc/1/ns/net", serviceCidrs: [], vips: [] })).rejects.toThrow(/namespace name/);
    expect(await routesText(4)).toBe(before);
  });

  it("a foreign route holding a service CIDR's prefix, or a foreign link named like the sink: a clear error, the foreign thing untouched", async () => {
    await run("ip", ["-n", ns.name, "route", "add", "10.242.0.0/16", "via", "10.99.0.254", "proto", "static"]);
    await expect(ensureServiceRoutes({ netns: ns.name, serviceCidrs: ["10.242.0.0/16"], vips: [] })).rejects.toThrow(/missing blackhole 10\.242\.0\.0\/16/);
    expect(await routesText(4)).toContain("10.242.0.0/16 via 10.99.0.254 dev syup0 proto static");

    await run("ip", ["-n", ns.name, "link", "add", SINK_DEVICE, "type", "bridge"]);
    await expect(ensureServiceRoutes({ netns: ns.name, serviceCidrs: [], vips: ["10.241.0.10"] })).rejects.toThrow(/sy-svc0 exists and is a bridge/);
    await removeServiceRoutes({ netns: ns.name });
    expect((await listLinks(ns.name)).find((l) => l.ifname === SINK_DEVICE)).toMatchObject({ kind: "bridge" });
  });

  it("warns when the host ignores linkdown routes: the sink's VIPs fall into the blackhole for host processes", async () => {
    await run("ip", ["netns", "exec", ns.name, "sysctl", "-q", "-w", "net.ipv4.conf.all.ignore_routes_with_linkdown=1"]);
    const changes = await ensureServiceRoutes({ netns: ns.name, family: 4, serviceCidrs: ["10.241.0.0/16"], vips: ["10.241.0.10"] });
    expect(changes.warnings).toEqual([expect.stringMatching(/^net\.ipv4\.conf\.all\.ignore_routes_with_linkdown is 1: .*EINVAL/)]);
    // What the warning is about, for real.
    expect(await udpConnect(ns.name, "10.241.0.10")).toEqual({ ok: false, code: "EINVAL" });
    await run("ip", ["netns", "exec", ns.name, "sysctl", "-q", "-w", "net.ipv4.conf.all.ignore_routes_with_linkdown=0"]);
    expect(await udpConnect(ns.name, "10.241.0.10")).toMatchObject({ ok: true });
    expect((await ensureServiceRoutes({ netns: ns.name, family: 4, serviceCidrs: ["10.241.0.0/16"], vips: ["10.241.0.10"] })).warnings).toEqual([]);
    expect((await run("ip", ["netns", "exec", ns.name, "sysctl", "-n", `net.ipv4.conf.${SINK_DEVICE}.ignore_routes_with_linkdown`])).stdout.trim()).toBe("0");
  });
});
