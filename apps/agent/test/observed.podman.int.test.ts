/**
 * Issue 16 §3–§4 with a real podman (4.3, CNI backend, runc) and a real agent: a network deployed
 * to the agent's conf dir, which podman reads; a container started by `podman run --network <it>`
 * with labels appears in the console as an observed attachment (runtime, name, labels, address)
 * without the agent running ADD or DEL for it; a label that could break a selector is left out;
 * it joins the pool of the service selecting its label and answers through the VIP (podman runs
 * in a namespace standing in for the host, where its bridge is and the agent programs services);
 * stopped (podman runs DEL), it leaves the console, the pool and the map. podman's own state lives
 * in a temp dir; its CNI cache is libcni's default (/var/lib/cni), the agent's cache dir here.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createNetnsPool, createTestDirs, randomSuffix, run } from "@switchyard/cni/test-host";
import { afterAll, describe, expect, it } from "vitest";
import { agentArgs, isRoot, useTestConsole } from "./harness";
import { probeFromHost, serveInNetnsOf } from "./support/observed-member";
import { waitFor } from "./wait";

describe.runIf(isRoot)("containers podman starts, seen by the agent (issue 16 §3)", { timeout: 120_000 }, () => {
  const c = useTestConsole();
  let agent: ChildProcess | undefined;
  const cleanups: (() => unknown)[] = [];
  const pool = createNetnsPool();
  afterAll(async () => {
    if (agent?.exitCode === null) agent.kill("SIGKILL");
    for (const cleanup of cleanups.reverse()) await Promise.resolve(cleanup()).catch(() => {});
    await pool.cleanup();
  });

  it("a labelled podman container on a deployed network appears with its address and labels, joins its pool and answers through the VIP, and leaves when stopped", async () => {
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
    // The host's stand-in: podman runs in it (its bridge is made there), the agent programs services there.
    const host = await pool.create();
    await run("ip", ["-n", host.name, "link", "set", "lo", "up"]);
    cleanups.push(() => rmSync(`/var/lib/cni/networks/${name}`, { recursive: true, force: true }));
    const network = await operator.caller.networks.create({
      text: JSON.stringify({ cniVersion: "1.0.0", name, plugins: [{ type: "bridge", bridge, isGateway: true, ipam: { type: "host-local", ranges: [[{ subnet: `10.67.${third}.0/24` }]] } }] }, null, 2),
      comment: "",
    });
    const hostname = `sytest-${suffix}`;
    const { token } = await admin.caller.hosts.createJoinToken({ note: hostname, ttlMinutes: 10 });
    agent = spawn(process.execPath, agentArgs({ consoleUrl: server.url, root: dirs.root, cacheDir: "/var/lib/cni", hostname, joinToken: token, extra: ["--observe", "auto", "--services", `netns:${host.name}`] }), { stdio: "ignore", env });
    const hostId = await waitFor("the host to enrol", async () => (await t.db.host.findUnique({ where: { name: hostname } }))?.id);
    await operator.caller.networks.place({ networkId: network.id, mode: "hosts", hostIds: [hostId] });
    await waitFor("the network deployed", async () => existsSync(join(confDir, `50-switchyard-${name}.conflist`)));

    const app = `web-${suffix}`;
    await admin.caller.services.setCidrs({ cidrs: ["10.96.0.0/16"] });
    const service = await operator.caller.services.create({ name: `obs-${suffix}`, vip: "10.96.8.10", spec: { ports: [{ protocol: "tcp", port: 80, targetPort: 8080 }], memberSelector: { matchLabels: { app } } } });
    const members = async () => (await operator.caller.services.get({ id: service.id })).members.map((m) => m.address);

    const container = `sytest-obs-${suffix}`;
    // nsenter, not `ip netns exec`: that remounts /sys, and runc then finds no cgroup mount.
    const podman = (...args: string[]) => execFileSync("nsenter", [`--net=/run/netns/${host.name}`, "podman", ...args], { env, encoding: "utf8" }).trim();
    cleanups.push(() => podman("rm", "-f", "-t", "0", container));
    const started = Date.now();
    const id = podman("--runtime", "runc", "--cgroup-manager=cgroupfs", "run", "-d", "--name", container, "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
      "--label", `app=${app}`, "--label", "tier=edge", "--label", "bad key;$(reboot)=x", "--network", name, "--rootfs", rootfs, "/bin/sleep", "300"); // prettier-ignore
    const seen = await waitFor("the container in the console", async () => (await operator.caller.networks.observed({ id: network.id })).attachments.find((a) => a.containerId === id));
    const appearedMs = Date.now() - started;
    expect(seen).toMatchObject({ hostId, hostName: hostname, runtime: "podman", name: container, networkName: name, ifName: "eth0", labels: { app, tier: "edge" }, labelsLeftOut: 1, state: "running" });
    expect(seen.addresses).toHaveLength(1);
    expect(seen.addresses[0]).toMatch(new RegExp(`^10\\.67\\.${third}\\.\\d+/24$`));
    const address = seen.addresses[0]!.split("/")[0]!;
    // The agent ran nothing for it: no operation, no attachment of its own.
    expect(await t.db.operation.count({ where: { hostId } })).toBe(0);
    expect(await t.db.attachment.count({ where: { hostId } })).toBe(0);

    // In the pool of the service selecting its label; programmed on the host; answering through the VIP (a server in
    // its network namespace).
    await waitFor("the container in the pool", async () => (await members()).includes(address));
    const pooledMs = Date.now() - started;
    cleanups.push(await serveInNetnsOf(podman("inspect", "--format", "{{.State.Pid}}", container)));
    const result = await probeFromHost(c, { serviceId: service.id, hostId, count: 20 });
    expect(result.error).toBe("");
    expect(result.result, JSON.stringify(result.result)).toMatchObject({ sent: 20, answered: 20, unattributed: 0, members: [{ address, port: 8080, count: 20 }] });
    await waitFor("its lease on the map", async () => (await operator.caller.ipam.address({ networkId: network.id, address })).holders.some((h) => h.containerId === id));

    const stopped = Date.now();
    podman("stop", "-t", "0", container);
    await waitFor("the container gone from the console", async () => !(await operator.caller.networks.observed({ id: network.id })).attachments.some((a) => a.containerId === id));
    await waitFor("the container out of the pool", async () => !(await members()).includes(address));
    const leftMs = Date.now() - stopped;
    await waitFor("its lease gone from the map", async () => (await operator.caller.ipam.address({ networkId: network.id, address })).holders.length === 0);
    console.log(`observed containers: podman run → in the console ${appearedMs} ms, in the pool ${pooledMs} ms; podman stop → out of the console and the pool ${leftMs} ms`);
  });
});
