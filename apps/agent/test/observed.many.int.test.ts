/**
 * Issue 16 §5: a thousand containers attached at once by another runtime, and detached at once.
 * The other runtime here is this repository's CNI runtime run by the test, as a runtime would:
 * real host-local ADDs (leases in its data dir) writing libcni's cache, which the agent did not
 * make. A thousand real containers do not fit this machine (a runc container and its shim are
 * ~10 MB and ~0.1 s of CPU each); the podman and containerd tests run real ones. What is under
 * test is the agent's side and the console's: every one reported and shown, the agent's passes
 * coalesced, then every one gone.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { createCniRuntime, createHelperSpawner, loadNetworkList } from "@switchyard/cni";
import { createNetnsPool, createTestDirs, randomSuffix } from "@switchyard/cni/test-host";
import { afterAll, describe, expect, it } from "vitest";
import { agentArgs, isRoot, useTestConsole } from "./harness";
import { waitFor } from "./wait";

const COUNT = 1000;

describe.runIf(isRoot)("a thousand containers of another runtime at once (issue 16 §5)", { timeout: 300_000 }, () => {
  const c = useTestConsole();
  const pool = createNetnsPool();
  const cleanups: (() => unknown)[] = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await Promise.resolve(cleanup()).catch(() => {});
    await pool.cleanup();
  });

  it("all reported and shown, then all gone", async () => {
    const { t, admin, server } = c;
    const dirs = await createTestDirs();
    cleanups.push(() => dirs.remove());
    const suffix = randomSuffix();
    const name = `sytest-many-${suffix}`;
    const hostname = `sytest-${suffix}`;
    const { token } = await admin.caller.hosts.createJoinToken({ note: hostname, ttlMinutes: 10 });
    const agent: ChildProcess = spawn(process.execPath, agentArgs({ consoleUrl: server.url, root: dirs.root, cacheDir: dirs.cacheDir, hostname, joinToken: token, extra: ["--observe", "auto"] }), { stdio: "ignore" });
    cleanups.push(() => agent.exitCode === null && agent.kill("SIGKILL"));
    const hostId = await waitFor("the host to enrol", async () => (await t.db.host.findUnique({ where: { name: hostname } }))?.id);
    const network = await c.operator.caller.networks.create({ text: JSON.stringify({ cniVersion: "1.0.0", name, plugins: [{ type: "loopback" }] }), comment: "" });

    // The other runtime: host-local alone (an address and a lease, no link), in one namespace (an ifname each), 32 ADDs at a time.
    const netns = await pool.create();
    const list = loadNetworkList(JSON.stringify({ cniVersion: "1.0.0", name, plugins: [{ type: "host-local", ipam: { type: "host-local", ranges: [[{ subnet: "10.69.4.0/22" }]], dataDir: join(dirs.root, "leases") } }] }));
    // Plugins started from a small helper, as the agent starts them: forking this test process (the console, its
    // database) for each one cost three times the plugin.
    const spawner = createHelperSpawner();
    cleanups.push(() => spawner.close());
    const runtime = createCniRuntime({ pluginDirs: ["/opt/cni/bin", "/usr/lib/cni"], cacheDir: dirs.cacheDir, timeoutMs: 60_000, spawner });
    const ids = Array.from({ length: COUNT }, (_, i) => `other-${suffix}-${String(i).padStart(4, "0")}`);
    const ifName = (id: string) => `c${id.slice(-4)}`;
    const each = async (work: (id: string) => Promise<unknown>) => {
      let next = 0;
      await Promise.all(Array.from({ length: 32 }, async () => {
        while (next < ids.length) await work(ids[next++]!);
      }));
    };
    const shown = async () => (await c.operator.caller.networks.observed({ id: network.id })).total;

    const started = Date.now();
    await each((containerId) => runtime.addNetworkList(list, { containerId, netns: netns.path, ifName: ifName(containerId) }));
    const addedMs = Date.now() - started;
    await waitFor(`all ${COUNT} in the console`, async () => (await shown()) === COUNT, 120_000);
    const shownMs = Date.now() - started;
    const page = await c.operator.caller.networks.observed({ id: network.id });
    expect(page.attachments).toHaveLength(COUNT);
    expect(new Set(page.attachments.map((a) => a.addresses[0])).size).toBe(COUNT);
    expect(page.attachments.every((a) => a.hostId === hostId && a.runtime === "unknown" && /^10\.69\.[4-7]\.\d+\/22$/.test(a.addresses[0] ?? ""))).toBe(true);
    expect((await c.operator.caller.hosts.observed({ id: hostId })).total).toBe(COUNT);

    const deleting = Date.now();
    await each((containerId) => runtime.delNetworkList(list, { containerId, netns: netns.path, ifName: ifName(containerId) }));
    await waitFor("all gone from the console", async () => (await shown()) === 0, 120_000);
    const goneMs = Date.now() - deleting;
    console.log(`observed: ${COUNT} ADDs in ${addedMs} ms, all in the console ${shownMs} ms after the first; ${COUNT} DELs → none shown ${goneMs} ms`);
  });
});
