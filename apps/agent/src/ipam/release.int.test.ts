import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { readdir, readFile, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ReleasedAddress } from "@switchyard/api/schemas/ipamRelease";
import { createCniRuntime, loadNetworkList } from "@switchyard/cni";
import { NETNS_DIR, PLUGIN_DIRS, bridgeConflist, createNetnsPool, createTestDirs, deleteBridge, randomSuffix } from "@switchyard/cni/test-host";
import { afterAll, describe, expect, it } from "vitest";
import { type ReleaseDeps, carryOutRelease } from "./release";

// As root, with the real bridge and host-local plugins, in namespaces this test makes: a release
// frees the leaked address through CNI where it can, removes the lease file under host-local's
// lock only where the plugins cannot, and leaves alone everything it was not asked to touch.
const pool = createNetnsPool();
const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const step of cleanups.reverse()) await step().catch(() => undefined);
  await pool.cleanup();
});

async function setup() {
  const dirs = await createTestDirs();
  cleanups.push(() => dirs.remove());
  const { names, text } = bridgeConflist({ dataDir: dirs.dataDir });
  cleanups.push(() => deleteBridge(names.bridge));
  const net = loadNetworkList(text);
  const runtime = createCniRuntime({ pluginDirs: PLUGIN_DIRS, cacheDir: dirs.cacheDir, netnsDirs: [NETNS_DIR] });
  const owned: { networkName: string; containerId: string; ifName: string }[] = [];
  const deps: ReleaseDeps = {
    runtime,
    knownNetwork: async (name) => (name === net.name ? { name, knownFrom: ["confDir"], net } : undefined),
    ownedHolders: () => owned,
    allowedDataDirRoots: [dirs.root],
  };
  const leaseDir = join(dirs.dataDir, net.name);
  const add = async (containerId: string) => {
    const ns = await pool.create();
    const rt = { containerId, ifName: "eth0", netns: ns.path };
    const result = await runtime.addNetworkList(net, rt);
    cleanups.push(() => runtime.delNetworkList(net, rt));
    return { ns, rt, address: result.ips![0]!.address.split("/")[0]! };
  };
  const release = (items: { address: string; containerId: string; ifName: string }[]) => carryOutRelease(deps, { releaseId: "r1", networkName: net.name, items, requestedByName: "alice" });
  return { dirs, net, runtime, owned, deps, leaseDir, add, release, subnet: names.v4Subnet };
}

const kinds = (a: ReleasedAddress) => a.steps.map((s) => `${s.kind}:${s.outcome}`);
const addressIn = (subnet: string, host: number) => subnet.replace(/\.0\/\d+$/, `.${host}`);

/** Holds host-local's lock of a lease directory in another process until `free()`. */
async function holdLock(lock: string) {
  const child = spawn("flock", [lock, "sh", "-c", "echo held; read x"], { stdio: ["pipe", "pipe", "inherit"] });
  await new Promise<void>((resolve) => child.stdout.once("data", () => resolve()));
  return { free: () => new Promise<void>((resolve) => (child.once("exit", () => resolve()), child.stdin.end("\n"))) };
}

describe("carryOutRelease with the real plugins", () => {
  it("a holder whose namespace is gone: CNI DEL with the cached config frees its address and nothing else; a living one is refused", async () => {
    const s = await setup();
    const leaked = await s.add(`leak-${randomSuffix()}`);
    const alive = await s.add(`live-${randomSuffix()}`);
    await leaked.ns.remove();

    const [out] = await s.release([{ address: leaked.address, containerId: leaked.rt.containerId, ifName: "eth0" }]);
    expect(ReleasedAddress.parse(out)).toEqual(out);
    expect(out!.freed).toBe(true);
    expect(kinds(out!)).toEqual(["check:done", "cni-del-cached:done"]);
    expect(out!.steps[0]!.message).toContain(`namespace ${leaked.ns.path} gone`);
    expect(existsSync(join(s.leaseDir, leaked.address))).toBe(false);
    expect(await s.runtime.listCachedAttachments(s.net.name)).toEqual([expect.objectContaining({ containerId: alive.rt.containerId })]);
    expect(readFileSync(join(s.leaseDir, alive.address), "latin1")).toBe(`${alive.rt.containerId}\r\neth0`);

    // The other holder's namespace lives: judged again here, refused whatever the console said.
    const [refused] = await s.release([{ address: alive.address, containerId: alive.rt.containerId, ifName: "eth0" }]);
    expect(refused).toMatchObject({ freed: false, steps: [{ kind: "check", outcome: "refused" }] });
    expect(refused!.steps[0]!.message).toContain(`namespace ${alive.ns.path} lives`);
    // One of this agent's own attachments: released by a detach, never here.
    await alive.ns.remove();
    s.owned.push({ networkName: s.net.name, containerId: alive.rt.containerId, ifName: "eth0" });
    const [own] = await s.release([{ address: alive.address, containerId: alive.rt.containerId, ifName: "eth0" }]);
    expect(own!.steps[0]!.message).toMatch(/an attachment of this agent holds .*: detach it instead/);
    expect(existsSync(join(s.leaseDir, alive.address))).toBe(true);
  });

  it("no cache entry: CNI DEL with the config the host knows frees it (the plugin's own release)", async () => {
    const s = await setup();
    const first = await s.add(`keep-${randomSuffix()}`); // makes the lease directory as host-local does
    const address = addressIn(s.subnet, 200);
    await writeFile(join(s.leaseDir, address), "crashed-ctr\r\neth1");
    const [out] = await s.release([{ address, containerId: "crashed-ctr", ifName: "eth1" }]);
    expect(kinds(out!)).toEqual(["check:done", "cni-del-known:done"]);
    expect(out!.freed).toBe(true);
    expect(existsSync(join(s.leaseDir, address))).toBe(false);
    expect(existsSync(join(s.leaseDir, first.address))).toBe(true);
  });

  it("a lease the plugins cannot release (no interface named, CNI 1.0: no GC) goes under host-local's lock, only while it still names the leaked holder", async () => {
    const s = await setup();
    await s.add(`keep-${randomSuffix()}`);
    const lock = join(s.leaseDir, "lock");
    const a = addressIn(s.subnet, 201);
    await writeFile(join(s.leaseDir, a), "old-ctr");

    // The lock is held (a plugin at work): nothing is removed until it is free.
    const held = await holdLock(lock);
    const running = s.release([{ address: a, containerId: "old-ctr", ifName: "" }]);
    await new Promise((r) => setTimeout(r, 400));
    expect(existsSync(join(s.leaseDir, a))).toBe(true);
    await held.free();
    const [out] = await running;
    expect(kinds(out!)).toEqual(["check:done", "cni-del-known:skipped", "cni-gc:skipped", "remove-lease-file:done"]);
    expect(out!.steps[2]!.message).toContain("GC came with 1.1.0");
    expect(out!.freed).toBe(true);
    expect(existsSync(join(s.leaseDir, a))).toBe(false);

    // Rewritten for a new holder while the release waited for the lock: left alone (the leaked
    // holder holds nothing now, so the leak is over; the new holder's file stays).
    const b = addressIn(s.subnet, 202);
    await writeFile(join(s.leaseDir, b), "old-ctr");
    const again = await holdLock(lock);
    const second = s.release([{ address: b, containerId: "old-ctr", ifName: "" }]);
    await new Promise((r) => setTimeout(r, 400));
    await writeFile(join(s.leaseDir, b), "new-ctr\r\neth0");
    await again.free();
    const [kept] = await second;
    expect(kept!.freed).toBe(true);
    expect(kept!.steps.at(-1)).toMatchObject({ kind: "remove-lease-file", outcome: "failed" });
    expect(kept!.steps.at(-1)!.message).toContain("changed meanwhile");
    expect(await readFile(join(s.leaseDir, b), "latin1")).toBe("new-ctr\r\neth0");
  });

  it("GC only where every plugin speaks the config's CNI 1.1: these plugins (1.0) do not, so the lease file goes", async () => {
    const s = await setup();
    await s.add(`keep-${randomSuffix()}`);
    const net11 = loadNetworkList(JSON.stringify({ ...JSON.parse(Buffer.from(s.net.bytes).toString()), cniVersion: "1.1.0" }));
    expect(net11.cniVersion).toBe("1.1.0");
    const deps = { ...s.deps, knownNetwork: async () => ({ name: s.net.name, knownFrom: ["confDir" as const], net: net11 }) };
    const a = addressIn(s.subnet, 203);
    await writeFile(join(s.leaseDir, a), "old-ctr");
    const [out] = await carryOutRelease(deps, { releaseId: "r4", networkName: s.net.name, items: [{ address: a, containerId: "old-ctr", ifName: "" }], requestedByName: "alice" });
    expect(kinds(out!)).toEqual(["check:done", "cni-del-known:skipped", "cni-gc:skipped", "remove-lease-file:done"]);
    expect(out!.steps[2]!.message).toMatch(/plugin (bridge|host-local) does not speak CNI 1\.1\.0/);
    expect(existsSync(join(s.leaseDir, a))).toBe(false);
  });

  it("refuses what it must not touch: a symlink, another holder, an unknown network, a data dir outside its roots; an absent file is already free", async () => {
    const s = await setup();
    await s.add(`keep-${randomSuffix()}`);
    const target = join(s.dirs.root, "precious");
    await writeFile(target, "victim-ctr\r\neth0");
    const linked = addressIn(s.subnet, 210);
    await symlink(target, join(s.leaseDir, linked));
    const other = addressIn(s.subnet, 211);
    await writeFile(join(s.leaseDir, other), "someone-else\r\neth0");
    const absent = addressIn(s.subnet, 212);

    const out = await s.release([
      { address: linked, containerId: "victim-ctr", ifName: "eth0" },
      { address: other, containerId: "leaked-ctr", ifName: "eth0" },
      { address: absent, containerId: "leaked-ctr", ifName: "eth0" },
    ]);
    expect(out.map((o) => [o.address, o.freed, kinds(o)])).toEqual([
      [linked, false, ["check:refused"]],
      [other, false, ["check:refused"]],
      [absent, true, ["check:done"]],
    ]);
    expect(out[0]!.steps[0]!.message).toContain("symbolic link");
    expect(out[1]!.steps[0]!.message).toContain("now names someone-else/eth0");
    expect(await readFile(target, "latin1")).toBe("victim-ctr\r\neth0");
    expect(await readdir(s.leaseDir)).toEqual(expect.arrayContaining([linked, other]));

    const unknown = await carryOutRelease(s.deps, { releaseId: "r2", networkName: "not-here", items: [{ address: other, containerId: "x", ifName: "eth0" }], requestedByName: "alice" });
    expect(unknown[0]!.steps[0]!.message).toContain("not known on this host");
    const outside = await carryOutRelease({ ...s.deps, allowedDataDirRoots: ["/var/lib/cni"] }, { releaseId: "r3", networkName: s.net.name, items: [{ address: other, containerId: "someone-else", ifName: "eth0" }], requestedByName: "alice" });
    expect(outside[0]!.steps[0]).toMatchObject({ kind: "check", outcome: "refused" });
    expect(outside[0]!.steps[0]!.message).toContain("outside the directories the agent reads");
    expect(existsSync(join(s.leaseDir, other))).toBe(true);
  });
});
