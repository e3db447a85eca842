import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { CniError, createCniRuntime, loadNetworkList } from "../src/index";
import type { CniResult, CniRuntime, CniRuntimeOptions, NetworkConfigList, RuntimeConf } from "../src/index";
import { PLUGIN_CNI_VERSION, PLUGIN_DIRS, createNetnsPool, createTestDirs, deleteLink, hostLocal, linkExists, listBridgePorts, randomSuffix, run } from "./host";
import { guardHost, isRoot } from "./host/harness";

// The bridge plugin (Debian's 1.1.1 here) records the bridge's MAC in its ADD result and its CHECK
// compares it with the bridge's MAC now; a bridge without an explicit address takes the lowest MAC
// of its ports, so it moves as containers come and go. Real plugins, namespaces made here. Root only.
describe.runIf(isRoot)("the bridge's MAC and CHECK, with the real bridge plugin", { timeout: 120_000 }, () => {
  const cleanup = guardHost();

  /** One bridge network (`sytest` + 6 hex: its bridge), its dirs and namespaces, all undone by cleanup. */
  async function bridgeNetwork(opts: { isGateway?: boolean } = {}) {
    const dirs = await createTestDirs();
    cleanup.add(() => dirs.remove());
    const hex = randomSuffix(3);
    const bridge = `sytest${hex}`;
    const subnet = `10.${200 + (parseInt(hex.slice(0, 2), 16) % 50)}.${parseInt(hex.slice(2, 4), 16)}.0/24`;
    const net = loadNetworkList(
      JSON.stringify({
        cniVersion: PLUGIN_CNI_VERSION,
        name: `sytest-mac-${hex}`,
        plugins: [{ type: "bridge", bridge, isGateway: opts.isGateway ?? false, ipMasq: false, ipam: hostLocal(dirs.dataDir, [subnet]) }],
      }),
    );
    const pool = createNetnsPool();
    const made: { runtime: CniRuntime; rt: RuntimeConf }[] = [];
    // Steps run in reverse: DEL every attachment, then the namespaces, then the bridge.
    cleanup.add(() => deleteLink(bridge));
    cleanup.add(() => pool.cleanup());
    cleanup.add(async () => {
      for (const { runtime, rt } of made) await runtime.delNetworkList(net, rt).catch(() => undefined);
    });
    const warnings: CniError[] = [];
    const runtime = (extra: Partial<CniRuntimeOptions> = {}) => createCniRuntime({ pluginDirs: PLUGIN_DIRS, cacheDir: dirs.cacheDir, timeoutMs: 30_000, onWarning: (w) => warnings.push(w), ...extra });
    return {
      net,
      bridge,
      warnings,
      runtime,
      async add(cni: CniRuntime): Promise<{ rt: RuntimeConf; ns: string; result: CniResult }> {
        const ns = await pool.create();
        const rt: RuntimeConf = { containerId: `sytest-cid-${randomSuffix()}`, netns: ns.path, ifName: "eth0" };
        made.push({ runtime: cni, rt });
        return { rt, ns: ns.name, result: await cni.addNetworkList(net, rt) };
      },
    };
  }

  const bridgeMac = async (bridge: string) => (await readFile(`/sys/class/net/${bridge}/address`, "utf8")).trim();
  const assignType = async (bridge: string) => (await readFile(`/sys/class/net/${bridge}/addr_assign_type`, "utf8")).trim();
  const recordedBridgeMac = (result: CniResult, bridge: string) => result.interfaces?.find((i) => i.name === bridge && !i.sandbox)?.mac;
  const checkError = (cni: CniRuntime, net: NetworkConfigList, rt: RuntimeConf) => cni.checkNetworkList(net, rt).then(() => undefined, (e: unknown) => e as CniError);

  /** A port with a MAC lower than any random one (02:00:…): what a container with a low veth MAC joining does. */
  async function joinLowPort(bridge: string) {
    const name = `sytestp${randomSuffix(3)}`;
    cleanup.add(() => deleteLink(name));
    await run("ip", ["link", "add", name, "address", "02:00:00:00:00:01", "type", "veth", "peer", "name", `${name}x`]);
    await run("ip", ["link", "set", name, "master", bridge, "up"]);
  }

  it("reproduction (pinning off, the plugin alone): other containers join, the bridge MAC moves, a healthy attachment fails CHECK", async () => {
    const n = await bridgeNetwork();
    const cni = n.runtime({ pinBridgeMac: false });
    const attachments = [await n.add(cni)];
    const recorded = recordedBridgeMac(attachments[0]!.result, n.bridge)!;
    expect(recorded).toMatch(/^[0-9a-f:]{17}$/);
    expect(await assignType(n.bridge)).not.toBe("3"); // the kernel chooses the bridge's address
    await cni.checkNetworkList(n.net, attachments[0]!.rt);

    // B, C, … join until one has a lower veth MAC than the bridge's (each does with chance 1/(k+1)).
    while (attachments.length < 6 && (await bridgeMac(n.bridge)) === recorded) attachments.push(await n.add(cni));
    let victim = attachments[0]!;
    if ((await bridgeMac(n.bridge)) === recorded) {
      // A's veth was the lowest all along: A leaving moves the bridge's MAC under B, which recorded A's.
      await cni.delNetworkList(n.net, victim.rt);
      victim = attachments[1]!;
    }
    expect(recordedBridgeMac(victim.result, n.bridge)).toBe(recorded);
    expect(await bridgeMac(n.bridge)).not.toBe(recorded);
    // Nothing about the victim changed: its interface, address and veth are as ADD left them.
    const error = await checkError(cni, n.net, victim.rt);
    expect(error).toBeInstanceOf(CniError);
    expect(error!.plugin).toBe("bridge");
    expect(error!.msg).toBe(`Bridge interface ${n.bridge} Mac doesn't match: ${recorded}`);
  });

  it("ADD pins the bridge it creates: A's CHECK passes after B, C, … and a low-MAC port joined", async () => {
    const n = await bridgeNetwork();
    const cni = n.runtime();
    const a = await n.add(cni);
    const recorded = recordedBridgeMac(a.result, n.bridge)!;
    expect(await assignType(n.bridge)).toBe("3"); // NET_ADDR_SET: the kernel keeps it
    expect(await bridgeMac(n.bridge)).toBe(recorded);

    const others = [];
    for (let i = 0; i < 5; i++) others.push(await n.add(cni));
    await joinLowPort(n.bridge);
    expect((await listBridgePorts(n.bridge)).length).toBe(7);
    expect(await bridgeMac(n.bridge)).toBe(recorded);
    await cni.checkNetworkList(n.net, a.rt);
    for (const o of others) {
      expect(recordedBridgeMac(o.result, n.bridge)).toBe(recorded);
      await cni.checkNetworkList(n.net, o.rt);
    }
    expect(n.warnings).toEqual([]);
  });

  it("concurrent first ADDs of a new bridge: every result records the MAC that stays, every CHECK passes", async () => {
    const n = await bridgeNetwork();
    const cni = n.runtime();
    const all = await Promise.all(Array.from({ length: 6 }, () => n.add(cni)));
    const mac = await bridgeMac(n.bridge);
    expect(await assignType(n.bridge)).toBe("3");
    expect(all.map((x) => recordedBridgeMac(x.result, n.bridge))).toEqual(all.map(() => mac));
    await joinLowPort(n.bridge);
    for (const x of all) await cni.checkNetworkList(n.net, x.rt);
  });

  it("a bridge that exists unpinned (made without pinning) is pinned before the next ADD's plugin runs; one that lost its ports (MAC 00:…) after it", async () => {
    const n = await bridgeNetwork();
    const plain = n.runtime({ pinBridgeMac: false });
    const cni = n.runtime();
    const old = await n.add(plain);
    expect(await assignType(n.bridge)).not.toBe("3");
    const before = await bridgeMac(n.bridge);
    const a = await n.add(cni);
    expect(await assignType(n.bridge)).toBe("3");
    // Pinned as it was, before A's veth joined: A's veth cannot have moved it.
    expect(recordedBridgeMac(a.result, n.bridge)).toBe(before);
    await joinLowPort(n.bridge);
    await cni.checkNetworkList(n.net, a.rt);
    await cni.checkNetworkList(n.net, old.rt);

    // The second half: a fresh unpinned bridge whose only port left has MAC 00:00:00:00:00:00.
    const m = await bridgeNetwork();
    const mPlain = m.runtime({ pinBridgeMac: false });
    const first = await m.add(mPlain);
    await mPlain.delNetworkList(m.net, first.rt);
    expect(await bridgeMac(m.bridge)).toBe("00:00:00:00:00:00");
    const b = await m.add(m.runtime());
    expect(await assignType(m.bridge)).toBe("3");
    expect(await bridgeMac(m.bridge)).toBe(recordedBridgeMac(b.result, m.bridge));
    await joinLowPort(m.bridge);
    await m.runtime().checkNetworkList(m.net, b.rt);
    expect([...n.warnings, ...m.warnings]).toEqual([]);
  });

  it("a real mismatch still fails CHECK: the container's interface MAC changed, the bridge's MAC changed, the bridge replaced", async () => {
    const n = await bridgeNetwork();
    const cni = n.runtime();
    const a = await n.add(cni);
    const b = await n.add(cni);
    await cni.checkNetworkList(n.net, a.rt);

    // A's interface in its namespace has another MAC than its result says.
    const recordedEth0 = a.result.interfaces?.find((i) => i.name === "eth0" && i.sandbox)?.mac;
    await run("ip", ["-n", a.ns, "link", "set", "eth0", "address", "02:00:00:00:00:42"]);
    const changed = await checkError(cni, n.net, a.rt);
    expect(changed?.msg).toBe(`Interface eth0 Mac ${recordedEth0} doesn't match container Mac: 02:00:00:00:00:42`);

    // Someone set the bridge's MAC: B (untouched) fails on the bridge.
    const recorded = recordedBridgeMac(b.result, n.bridge)!;
    await run("ip", ["link", "set", "dev", n.bridge, "address", "02:00:00:00:00:43"]);
    expect((await checkError(cni, n.net, b.rt))?.msg).toBe(`Bridge interface ${n.bridge} Mac doesn't match: ${recorded}`);
    await run("ip", ["link", "set", "dev", n.bridge, "address", recorded]);
    await cni.checkNetworkList(n.net, b.rt);

    // The bridge deleted and made again by the next ADD (a new, pinned MAC): B's CHECK fails.
    await deleteLink(n.bridge);
    expect(await linkExists(n.bridge)).toBe(false);
    const c = await n.add(cni);
    expect(recordedBridgeMac(c.result, n.bridge)).not.toBe(recorded);
    const replaced = await checkError(cni, n.net, b.rt);
    expect(replaced).toBeInstanceOf(CniError);
    expect(replaced!.msg).toBe(`Bridge interface ${n.bridge} Mac doesn't match: ${recorded}`);
    await cni.checkNetworkList(n.net, c.rt);
  });

  it("isGateway: the plugin pins the bridge itself, ADD leaves it as it is", async () => {
    const n = await bridgeNetwork({ isGateway: true });
    const cni = n.runtime();
    const a = await n.add(cni);
    expect(await assignType(n.bridge)).toBe("3");
    await n.add(cni);
    await joinLowPort(n.bridge);
    await cni.checkNetworkList(n.net, a.rt);
    expect(n.warnings).toEqual([]);
  });
});
