import { existsSync } from "node:fs";
import { chmod, mkdir, readdir, readFile, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CniError, loadNetworkList } from "../src/index";
import {
  bridgeConflist,
  getGlobalAddrs,
  listBridgePorts,
  listCacheFiles,
  listLinks,
  readLeases,
  PLUGIN_DIRS,
  run,
} from "./host";
import { guardHost, isRoot, NO_LEAKS, prepareAttachment } from "./host/harness";

/** Every file under a directory, recursively (to prove "no file appeared"). */
async function filesUnder(dir: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) out.push(join(e.parentPath, e.name));
  return out;
}

describe.runIf(isRoot)("HARDENING with the real plugins", () => {
  const cleanup = guardHost();

  const withChain = (chain: Record<string, unknown>[], ipv6 = false) => (dirs: { dataDir: string }) => {
    const { text, names } = bridgeConflist({ ipv4: true, ipv6, dataDir: dirs.dataDir, chain });
    return { text, network: names.network, bridge: names.bridge };
  };
  const plain = withChain([]);

  it.each(["../../bin/sh", "/bin/sh", "bridge/../x", "sy-no-such-plugin"])(
    "1: plugin type %j is refused and nothing runs: no address, no lease, no cache file",
    async (type) => {
      const a = await prepareAttachment({ cleanup, conflist: plain });
      const conf = JSON.parse(new TextDecoder().decode(a.net.bytes)) as { plugins: Record<string, unknown>[] };
      conf.plugins[0]!.type = type;
      let net;
      try {
        net = loadNetworkList(JSON.stringify(conf));
      } catch (err) {
        expect(err).toBeInstanceOf(CniError); // refused at load time: fine
        return;
      }
      await expect(a.runtime.addNetworkList(net, a.rt)).rejects.toBeInstanceOf(CniError);
      expect(await getGlobalAddrs(a.ns.name, "eth0")).toEqual([]);
      expect(await filesUnder(a.dirs.root)).toEqual([]);
      expect(await a.leaks()).toEqual(NO_LEAKS);
    },
  );

  it('1: ipam.type "../host-local" is refused before the main plugin runs', async () => {
    const a = await prepareAttachment({ cleanup, conflist: plain });
    const conf = JSON.parse(new TextDecoder().decode(a.net.bytes)) as { plugins: { ipam: { type: string } }[] };
    conf.plugins[0]!.ipam.type = "../cni/host-local";
    let net;
    try {
      net = loadNetworkList(JSON.stringify(conf));
    } catch (err) {
      expect(err).toBeInstanceOf(CniError);
      return;
    }
    await expect(a.runtime.addNetworkList(net, a.rt)).rejects.toBeInstanceOf(CniError);
    expect(await filesUnder(a.dirs.root)).toEqual([]);
    expect(await a.leaks()).toEqual(NO_LEAKS);
  });

  const badIds = ["", "-rf", "a/b", "..", "a b", "a:b", "é", "a\nb", "$(touch /tmp/sytest-pwned)", "`id`", "a;b"];
  const badIfNames = ["", ".", "..", "eth0/x", "eth:0", "eth 0", "a234567890123456", "eth\n0"];

  it("2: bad container ids, network names and ifnames are refused on every verb; no file appears", async () => {
    const a = await prepareAttachment({ cleanup, conflist: plain });
    const verbs = [
      (rt: typeof a.rt) => a.runtime.addNetworkList(a.net, rt),
      (rt: typeof a.rt) => a.runtime.checkNetworkList(a.net, rt),
      (rt: typeof a.rt) => a.runtime.delNetworkList(a.net, rt),
      (rt: typeof a.rt) => a.runtime.getCachedResult(a.net, rt),
    ];
    for (const verb of verbs) {
      for (const containerId of badIds) await expect(verb({ ...a.rt, containerId }), `containerId ${JSON.stringify(containerId)}`).rejects.toBeInstanceOf(CniError);
      for (const ifName of badIfNames) await expect(verb({ ...a.rt, ifName }), `ifName ${JSON.stringify(ifName)}`).rejects.toBeInstanceOf(CniError);
    }
    for (const name of badIds) {
      const conf = JSON.parse(new TextDecoder().decode(a.net.bytes)) as { name: string };
      conf.name = name;
      let net;
      try {
        net = loadNetworkList(JSON.stringify(conf));
      } catch (err) {
        expect(err).toBeInstanceOf(CniError);
        continue;
      }
      await expect(a.runtime.addNetworkList(net, a.rt), `network ${JSON.stringify(name)}`).rejects.toBeInstanceOf(CniError);
      await expect(a.runtime.delNetworkList(net, a.rt)).rejects.toBeInstanceOf(CniError);
    }
    expect(existsSync("/tmp/sytest-pwned")).toBe(false);
    expect(await filesUnder(a.dirs.root)).toEqual([]);
    expect(await a.leaks()).toEqual(NO_LEAKS);
  });

  it("3: netns paths of the host, /etc/passwd, a symlink to the host's netns, a missing path are refused on ADD; host lo untouched", async () => {
    const a = await prepareAttachment({ cleanup, conflist: plain });
    const link = join(a.dirs.root, "hostns");
    await mkdir(a.dirs.root, { recursive: true });
    await symlink("/proc/1/ns/net", link);
    const hostLinksBefore = (await listLinks()).map((l) => l.ifname).sort();
    for (const netns of ["/proc/1/ns/net", "/proc/self/ns/net", `/proc/${process.pid}/ns/net`, link, "/etc/passwd", "/var/run/netns/sytest-missing", "relative/ns"]) {
      await expect(a.runtime.addNetworkList(a.net, { ...a.rt, netns }), netns).rejects.toBeInstanceOf(CniError);
      await expect(a.runtime.checkNetworkList(a.net, { ...a.rt, netns }), netns).rejects.toBeInstanceOf(CniError);
    }
    // kubernetes#100648: the host's lo was downed by a DEL/ADD aimed at the host namespace.
    const { stdout } = await run("ip", ["-j", "link", "show", "lo"]);
    expect((JSON.parse(stdout) as { flags: string[] }[])[0]?.flags).toContain("UP");
    expect((await listLinks()).map((l) => l.ifname).sort()).toEqual(hostLinksBefore);
    expect(await listBridgePorts(a.tokens[3]!)).toEqual([]);
    expect(await filesUnder(join(a.dirs.root, "cache"))).toEqual([]);
    expect(await readLeases(a.dirs.dataDir, a.net.name)).toEqual([]);
  });

  it("5: capability args the plugin did not enable are not passed (ipRanges, ips outside the network)", async () => {
    const a = await prepareAttachment({ cleanup, conflist: plain });
    a.rt.capabilityArgs = { ipRanges: [[{ subnet: "10.99.99.0/24" }]], ips: ["10.99.99.50/24"], mac: "02:00:00:00:00:66" };
    const result = await a.runtime.addNetworkList(a.net, a.rt);
    await a.snapshotAfterAdd(result);
    const conf = JSON.parse(new TextDecoder().decode(a.net.bytes)) as { plugins: { ipam: { ranges: { subnet: string }[][] } }[] };
    const subnet = conf.plugins[0]!.ipam.ranges[0]![0]!.subnet;
    const addr = result.ips?.[0]?.address ?? "";
    expect(addr.split(".").slice(0, 3).join(".")).toBe(subnet.split(".").slice(0, 3).join("."));
    expect(addr).not.toContain("10.99.99.");
    const eth0 = (await listLinks(a.ns.name)).find((l) => l.ifname === "eth0");
    expect(eth0?.address).not.toBe("02:00:00:00:00:66");
    await a.runtime.delNetworkList(a.net, a.rt);
    expect(await a.leaks()).toEqual(NO_LEAKS);
  });

  it('6: a CNI_ARGS value carrying ";IP=…" cannot smuggle a second argument', async () => {
    const a = await prepareAttachment({ cleanup, conflist: plain });
    const rt = { ...a.rt, args: [["IgnoreUnknown", "1"], ["K8S_POD_NAME", "x;IP=10.250.250.250"]] as [string, string][] };
    let result;
    try {
      result = await a.runtime.addNetworkList(a.net, rt);
    } catch (err) {
      expect(err).toBeInstanceOf(CniError); // refused: fine
    }
    if (result) {
      await a.snapshotAfterAdd(result);
      expect(result.ips?.[0]?.address).not.toContain("10.250.250.250");
      await a.runtime.delNetworkList(a.net, rt);
    }
    expect(await getGlobalAddrs(a.ns.name, "eth0")).toEqual([]);
    expect(await a.leaks()).toEqual(NO_LEAKS);
  });

  it("9: malformed, huge, deeply nested, duplicate-key and unsupported-version conflists are refused with the field named", () => {
    const good = { cniVersion: "1.0.0", name: "sytest-h9", plugins: [{ type: "bridge" }] };
    const cases: [string, string, RegExp][] = [
      ["malformed", '{"cniVersion": "1.0.0", "name": ', /json|parse|unexpected|end/i],
      ["10 MB", JSON.stringify({ ...good, pad: "x".repeat(10 * 1024 * 1024) }), /size|large|bytes|MB/i],
      ["nested", `{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"bridge","x":${"[".repeat(5000)}${"]".repeat(5000)}}]}`, /depth|nest/i],
      ["duplicate keys", '{"cniVersion":"1.0.0","name":"a","name":"b","plugins":[{"type":"bridge"}]}', /duplicate|name/i],
      ["unknown cniVersion", JSON.stringify({ ...good, cniVersion: "9.9.9" }), /cniVersion/],
      ["cniVersions nothing supported", JSON.stringify({ ...good, cniVersions: ["7.0.0", "8.0.0"] }), /cniVersion/],
    ];
    for (const [label, text, field] of cases) {
      let error: unknown;
      try {
        loadNetworkList(text, { source: `/tmp/${label}.conflist` });
      } catch (err) {
        error = err;
      }
      expect(error, label).toBeInstanceOf(CniError);
      expect(String((error as Error).message) + ((error as CniError).details ?? ""), label).toMatch(field);
    }
  });

  it.each([
    ["missing", [{ type: "sy-missing-plugin" }]],
    ["failing", [{ type: "tuning", sysctl: { "net.ipv4.conf.eth0.sy_no_such_sysctl": "1" } }]],
    ["failing after portmap", [{ type: "portmap", capabilities: { portMappings: true } }, { type: "tuning", sysctl: { "net.sy.nope": "1" } }]],
  ])("19: a chained plugin %s mid-chain rolls ADD back through DEL: no address, veth, lease, cache file or rule leaks", async (_label, chain) => {
    const a = await prepareAttachment({ cleanup, conflist: withChain(chain as Record<string, unknown>[]) });
    a.rt.capabilityArgs = { portMappings: [{ hostPort: 20_000 + Math.floor(Math.random() * 20_000), containerPort: 80, protocol: "tcp" }] };
    await expect(a.runtime.addNetworkList(a.net, a.rt)).rejects.toBeInstanceOf(CniError);
    expect(await getGlobalAddrs(a.ns.name, "eth0")).toEqual([]);
    expect(await listBridgePorts(a.tokens[3]!)).toEqual([]);
    expect(await readLeases(a.dirs.dataDir, a.net.name)).toEqual([]);
    expect(await listCacheFiles(a.dirs.cacheDir)).toEqual([]);
    expect(await a.leaks()).toEqual(NO_LEAKS);
  });

  it("20: a plugin that hangs is killed with its process group at the timeout, and ADD rolls back", async () => {
    // A plugin dir with the real plugins plus "syhang", which on ADD starts a child and waits forever.
    const a = await prepareAttachment({
      cleanup,
      timeoutMs: 1500,
      pluginDirs: [], // replaced below
      conflist: withChain([{ type: "syhang" }]),
    });
    const dir = join(a.dirs.root, "plugins");
    await mkdir(dir, { recursive: true });
    const pidFile = join(a.dirs.root, "hang.pid");
    const script = `#!/bin/sh\nif [ "$CNI_COMMAND" = ADD ]; then sleep 50 & echo $! > ${pidFile}; wait; fi\nexit 0\n`;
    await writeFile(join(dir, "syhang"), script);
    await chmod(join(dir, "syhang"), 0o755);
    const { createCniRuntime } = await import("../src/index");
    const runtime = createCniRuntime({ pluginDirs: [dir, ...PLUGIN_DIRS], cacheDir: a.dirs.cacheDir, timeoutMs: 1500 });

    const t0 = Date.now();
    await expect(runtime.addNetworkList(a.net, a.rt)).rejects.toBeInstanceOf(CniError);
    expect(Date.now() - t0).toBeLessThan(15_000);
    const childPid = Number((await readFile(pidFile, "utf8")).trim());
    await new Promise((r) => setTimeout(r, 200));
    // Dead means gone or a zombie (reparented to a PID 1 that may not reap it).
    const state = await readFile(`/proc/${childPid}/stat`, "utf8").then((s) => s.slice(s.lastIndexOf(")") + 2, s.lastIndexOf(")") + 3), () => "gone");
    const alive = state !== "gone" && state !== "Z";
    if (alive) process.kill(childPid, "SIGKILL");
    expect(alive, "the plugin's child must die with its process group").toBe(false);
    expect(await readLeases(a.dirs.dataDir, a.net.name)).toEqual([]);
    expect(await listCacheFiles(a.dirs.cacheDir)).toEqual([]);
    expect(await a.leaks()).toEqual(NO_LEAKS);
  });
});
