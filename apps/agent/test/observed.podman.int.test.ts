/**
 * Issue 16 §3 with a real podman (4.3, CNI backend, runc) and a real agent: a network deployed to
 * the agent's conf dir, which podman reads; a container started by `podman run --network <it>`
 * with labels appears in the console as an observed attachment (runtime, name, labels, address)
 * without the agent running ADD or DEL for it; a label that could break a selector is left out;
 * stopped (podman runs DEL), it leaves. podman's own state lives in a temp dir; its CNI cache is
 * libcni's default (/var/lib/cni), which the agent reads as its cache dir here.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createTestDirs, deleteBridge, randomSuffix } from "@switchyard/cni/test-host";
import { afterAll, describe, expect, it } from "vitest";
import { agentArgs, isRoot, useTestConsole } from "./harness";
import { waitFor } from "./wait";

describe.runIf(isRoot)("containers podman starts, seen by the agent (issue 16 §3)", { timeout: 120_000 }, () => {
  const c = useTestConsole();
  let agent: ChildProcess | undefined;
  const cleanups: (() => unknown)[] = [];
  afterAll(async () => {
    if (agent?.exitCode === null) agent.kill("SIGKILL");
    for (const cleanup of cleanups.reverse()) await Promise.resolve(cleanup()).catch(() => {});
  });

  it("a labelled podman container on a deployed network appears with its address and labels, and leaves when stopped", async () => {
    const { t, admin, operator, server } = c;
    const dirs = await createTestDirs();
    cleanups.push(() => dirs.remove());
    const confDir = join(dirs.root, "net.d");
    mkdirSync(confDir, { recursive: true });
    // podman: the agent's conf dir for networks, its storage under the test's dir, runc (crun fails in this VM).
    writeFileSync(join(dirs.root, "containers.conf"), `[network]\nnetwork_backend = "cni"\nnetwork_config_dir = "${confDir}"\ncni_plugin_dirs = ["/usr/lib/cni"]\n`);
    writeFileSync(join(dirs.root, "storage.conf"), `[storage]\ndriver = "vfs"\ngraphroot = "${dirs.root}/storage"\nrunroot = "${dirs.root}/run"\n`);
    const env = { ...process.env, CONTAINERS_CONF: join(dirs.root, "containers.conf"), CONTAINERS_STORAGE_CONF: join(dirs.root, "storage.conf") };
    // A root filesystem without a registry: busybox-static.
    const rootfs = join(dirs.root, "rootfs");
    mkdirSync(join(rootfs, "bin"), { recursive: true });
    copyFileSync("/bin/busybox", join(rootfs, "bin", "busybox"));
    symlinkSync("busybox", join(rootfs, "bin", "sleep"));

    const suffix = randomSuffix();
    const name = `sytest-obs-${suffix}`;
    const bridge = `syobs${suffix}`.slice(0, 15);
    const third = 100 + (parseInt(suffix.slice(0, 2), 16) % 100);
    cleanups.push(() => deleteBridge(bridge));
    cleanups.push(() => rmSync(`/var/lib/cni/networks/${name}`, { recursive: true, force: true }));
    const network = await operator.caller.networks.create({
      text: JSON.stringify({ cniVersion: "1.0.0", name, plugins: [{ type: "bridge", bridge, ipam: { type: "host-local", ranges: [[{ subnet: `10.67.${third}.0/24` }]] } }] }, null, 2),
      comment: "",
    });
    const hostname = `sytest-${suffix}`;
    const { token } = await admin.caller.hosts.createJoinToken({ note: hostname, ttlMinutes: 10 });
    agent = spawn(process.execPath, agentArgs({ consoleUrl: server.url, root: dirs.root, cacheDir: "/var/lib/cni", hostname, joinToken: token, extra: ["--observe", "auto"] }), { stdio: "ignore", env });
    const hostId = await waitFor("the host to enrol", async () => (await t.db.host.findUnique({ where: { name: hostname } }))?.id);
    await operator.caller.networks.place({ networkId: network.id, mode: "hosts", hostIds: [hostId] });
    await waitFor("the network deployed", async () => existsSync(join(confDir, `50-switchyard-${name}.conflist`)));

    const container = `sytest-obs-${suffix}`;
    const podman = (...args: string[]) => execFileSync("podman", args, { env, encoding: "utf8" }).trim();
    cleanups.push(() => podman("rm", "-f", "-t", "0", container));
    const started = Date.now();
    const id = podman("--runtime", "runc", "--cgroup-manager=cgroupfs", "run", "-d", "--name", container, "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
      "--label", "app=web", "--label", "tier=edge", "--label", "bad key;$(reboot)=x", "--network", name, "--rootfs", rootfs, "/bin/sleep", "300"); // prettier-ignore
    const seen = await waitFor("the container in the console", async () => (await operator.caller.networks.observed({ id: network.id })).attachments.find((a) => a.containerId === id));
    const appearedMs = Date.now() - started;
    expect(seen).toMatchObject({ hostId, hostName: hostname, runtime: "podman", name: container, networkName: name, ifName: "eth0", labels: { app: "web", tier: "edge" }, labelsLeftOut: 1, state: "running" });
    expect(seen.addresses).toHaveLength(1);
    expect(seen.addresses[0]).toMatch(new RegExp(`^10\\.67\\.${third}\\.\\d+/24$`));
    // The agent ran nothing for it: no operation, no attachment of its own.
    expect(await t.db.operation.count({ where: { hostId } })).toBe(0);
    expect(await t.db.attachment.count({ where: { hostId } })).toBe(0);

    const stopped = Date.now();
    podman("stop", "-t", "0", container);
    await waitFor("the container gone from the console", async () => !(await operator.caller.networks.observed({ id: network.id })).attachments.some((a) => a.containerId === id));
    const leftMs = Date.now() - stopped;
    console.log(`observed containers: podman run → in the console ${appearedMs} ms; podman stop → gone ${leftMs} ms`);
  });
});
