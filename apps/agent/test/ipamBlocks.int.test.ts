/**
 * Issue 11 item 5 through two real agents on this machine: one macvlan network on a dummy link (or a
 * bridge with no port where the kernel has no dummy driver),
 * host-local on each "host" with its own lease directory (agent B runs in a mount namespace of its
 * own where the network's dataDir is another directory), so both hand out the same first address:
 * the conflict is flagged on the map and recorded once. Per-host blocks switched on, the next
 * attachments get addresses from disjoint blocks. Everything made here (the dummy link, the
 * namespaces, /var/lib/cni/sytest-*) is removed afterwards.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type ApiTest, serveApi, setupApiTest } from "@switchyard/api/testing";
import { createTestDirs, randomSuffix } from "@switchyard/cni/test-host";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "./wait";

const BIN = resolve(fileURLToPath(new URL("../bin/switchyard-agent", import.meta.url)));
const isRoot = process.getuid?.() === 0;
const ip = (...args: string[]) => {
  const r = spawnSync("ip", args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`ip ${args.join(" ")}: ${r.stderr}`);
};

describe.runIf(isRoot)("per-host blocks end a conflict between two real agents (issue 11 item 5)", { timeout: 240_000 }, () => {
  let t: ApiTest;
  let server: Awaited<ReturnType<typeof serveApi>>;
  const agents: ChildProcess[] = [];
  const cleanups: (() => unknown)[] = [];

  beforeAll(async () => {
    t = await setupApiTest();
    server = await serveApi(t.deps);
  });
  afterAll(async () => {
    for (const a of agents) if (a.exitCode === null) a.kill("SIGKILL");
    for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => {});
    await server?.close();
    await t?.close();
  });

  it("both hand out the same first address → conflict → blocks on → disjoint addresses", async () => {
    const admin = await t.callerAs("admin", "ada");
    const operator = await t.callerAs("operator", "otto");
    const hex = randomSuffix().replace(/[^0-9a-z]/g, "").slice(0, 6);
    const link = `sy-dum-${hex}`;
    // A dummy link is the L2 segment; this machine's kernel has no dummy driver, where a bridge with no port does the same job.
    if (spawnSync("ip", ["link", "add", link, "type", "dummy"]).status !== 0) ip("link", "add", link, "type", "bridge");
    cleanups.push(() => spawnSync("ip", ["link", "del", link]));
    ip("link", "set", link, "up");
    const root = `/var/lib/cni/sytest-blocks-${hex}`;
    const dataDir = join(root, "leases");
    mkdirSync(dataDir, { recursive: true });
    mkdirSync(join(root, "leases-b"), { recursive: true });
    cleanups.push(() => rmSync(root, { recursive: true, force: true }));
    const networkName = `sytest-mv-${hex}`;
    const third = 100 + (parseInt(hex.slice(0, 2), 36) % 100);
    const subnet = `10.231.${third}.0/24`;
    const conflist = { cniVersion: "1.0.0", name: networkName, plugins: [{ type: "macvlan", master: link, mode: "bridge", ipam: { type: "host-local", dataDir, ranges: [[{ subnet }]] } }] };
    const network = await operator.caller.networks.create({ text: JSON.stringify(conflist, null, 2), comment: "" });

    const startAgent = async (name: string, ownLeases: boolean) => {
      const dirs = await createTestDirs();
      cleanups.push(() => dirs.remove());
      const confDir = join(dirs.root, "net.d");
      mkdirSync(confDir, { recursive: true });
      const hostname = `sytest-${name}-${hex}`;
      const { token } = await admin.caller.hosts.createJoinToken({ note: hostname, ttlMinutes: 10 });
      const args = [BIN, "--console-url", server.url, "--join-token", token, "--reconcile-interval", "600000", "--data-dir", join(dirs.root, "agent"), "--cache-dir", dirs.cacheDir,
        "--conf-dir", confDir, "--netns-dir", "/run/netns", "--hostname", hostname, "--cni-path", "/usr/lib/cni", "--plugin-timeout", "20000"];
      // Agent B: its own mount namespace (mounts made outside, like `ip netns add`, still reach it), where the
      // network's dataDir is another directory: a second host's host-local, with its own leases.
      const child = ownLeases
        ? spawn("unshare", ["--mount", "--propagation", "slave", "sh", "-c", `mount --bind "$0" "$1" && shift && exec "$@"`, join(root, "leases-b"), dataDir, process.execPath, ...args], { stdio: "ignore" })
        : spawn(process.execPath, args, { stdio: "ignore" });
      agents.push(child);
      const hostId = await waitFor(`${hostname} to enrol`, async () => (await t.db.host.findUnique({ where: { name: hostname } }))?.id);
      return { hostId, hostname };
    };
    const a = await startAgent("a", false);
    const b = await startAgent("b", true);

    const attachOn = async (hostId: string) => {
      const ns = `sytest-${randomSuffix()}`;
      ip("netns", "add", ns);
      cleanups.push(() => spawnSync("ip", ["netns", "del", ns]));
      const { attachment } = await operator.caller.attachments.create({ hostId, networkId: network.id, target: { kind: "netns", name: ns }, ifName: "eth0", portMappings: [] });
      return attachment.id;
    };
    const addressOf = async (attachmentId: string) => {
      const row = await waitFor("the attachment to be ready", async () => {
        const r = await t.db.attachment.findUniqueOrThrow({ where: { id: attachmentId }, select: { state: true, result: true, lastError: true } });
        if (r.state === "failed") throw new Error(`attachment failed: ${r.lastError}`);
        return r.state === "ready" ? r : undefined;
      }, 60_000);
      return (row.result as { ips: { address: string }[] }).ips[0]!.address.split("/")[0]!;
    };

    // Without blocks each host's host-local starts at the range's first address: the same on both.
    const first = [await addressOf(await attachOn(a.hostId)), await addressOf(await attachOn(b.hostId))];
    expect(first[0]).toBe(first[1]);
    const clash = first[0]!;
    const cell = await waitFor("the conflict on the map", async () => {
      const map = await operator.caller.ipam.map({ networkId: network.id, cidr: subnet });
      const c = map.kind === "grid" ? map.cells.find((x) => x.address === clash) : undefined;
      return c?.status === "conflict" ? c : undefined;
    });
    expect(cell.holders.map((h) => h.hostName).sort()).toEqual([a.hostname, b.hostname]);
    const conflicts = await t.db.leaseEvent.count({ where: { networkName, address: clash, kind: "conflict" } });
    expect(conflicts).toBe(1);

    await operator.caller.ipam.setBlocks({ networkId: network.id, blockSize: "/26" });
    const next = { a: await addressOf(await attachOn(a.hostId)), b: await addressOf(await attachOn(b.hostId)) };
    const { blocks } = await operator.caller.ipam.blocks({ networkId: network.id });
    const blockOf = (hostId: string) => blocks.find((x) => x.hostId === hostId)!;
    const inside = (address: string, block: { first: string; last: string }) => {
      const n = (s: string) => Number(s.split(".")[3]);
      return n(address) >= n(block.first) && n(address) <= n(block.last);
    };
    expect(next.a).not.toBe(next.b);
    expect(inside(next.a, blockOf(a.hostId))).toBe(true);
    expect(inside(next.b, blockOf(b.hostId))).toBe(true);
    expect(inside(next.b, blockOf(a.hostId))).toBe(false);
    // The new addresses are each held on one host only: no new conflict.
    await waitFor("the new leases on the map, each on its own host", async () => {
      const map = await operator.caller.ipam.map({ networkId: network.id, cidr: subnet });
      if (map.kind !== "grid") return undefined;
      const cells = [next.a, next.b].map((address) => map.cells.find((x) => x.address === address));
      return cells.every((c) => c?.status === "live" && c.holders.length === 1) ? cells : undefined;
    });
    // B's older lease lies outside its block, not outside the network: no finding says it does.
    const reported = await t.db.hostIpamNetwork.findUniqueOrThrow({ where: { hostId_networkName: { hostId: b.hostId, networkName } }, select: { findings: true } });
    expect(JSON.stringify(reported.findings)).not.toContain("outside");
    // The address both hosts still hold is still a conflict.
    const still = await operator.caller.ipam.map({ networkId: network.id, cidr: subnet });
    expect(still.kind === "grid" && still.cells.find((x) => x.address === clash)?.status).toBe("conflict");
    expect(await t.db.leaseEvent.count({ where: { networkName, kind: "conflict" } })).toBe(1);
  });
});
