/**
 * Issue 16 §3–§5 with a real containerd (1.6, `ctr`, runc) and a real agent following it: a
 * network deployed to the agent's conf dir, which `ctr run --cni` reads (as its /etc/cni/net.d, in
 * its own mount namespace); a labelled container on it appears in the console (runtime, labels,
 * address, its lease on the map), joins the pool of the service that selects it, and answers
 * through the VIP (a probe from the namespace standing in for the host: the agent programs the
 * service there, behind its blackhole route for the service CIDR); killed, ctr runs DEL and it
 * leaves the pool and the map. Then the faults: containerd restarted while the agent follows it,
 * containerd hung (SIGSTOP), and a container stopped without DEL (`ctr run -d`), seen from
 * containerd's events alone.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { createNetnsPool, createTestDirs, randomSuffix, run, type TestNetns } from "@switchyard/cni/test-host";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agentArgs, isRoot, useTestConsole } from "./harness";
import { startContainerd, type TestContainerd } from "./support/containerd";
import { probeFromHost, serveInNetnsOf } from "./support/observed-member";
import { waitFor } from "./wait";

const VIP = "10.96.7.10";

describe.runIf(isRoot)("containers containerd starts, seen by the agent and registered into pools (issue 16)", { timeout: 240_000 }, () => {
  const c = useTestConsole();
  const pool = createNetnsPool();
  const suffix = randomSuffix();
  const networkName = `sytest-ctd-${suffix}`;
  const third = 100 + (parseInt(suffix.slice(0, 2), 16) % 100);
  const app = `web-${suffix}`;
  let host: TestNetns;
  let containerd: TestContainerd;
  let agent: ChildProcess | undefined;
  let confDir = "";
  let hostId = "";
  let networkId = "";
  let serviceId = "";
  const cleanups: (() => unknown)[] = [];

  beforeAll(async () => {
    const { t, admin, operator, server } = c;
    const dirs = await createTestDirs();
    cleanups.push(() => dirs.remove());
    host = await pool.create();
    await run("ip", ["-n", host.name, "link", "set", "lo", "up"]);
    containerd = await startContainerd(join(dirs.root, "containerd"));
    cleanups.push(() => containerd.cleanup());
    cleanups.push(() => rmSync(`/var/lib/cni/networks/${networkName}`, { recursive: true, force: true }));
    // A container stopped without DEL leaves its cache entry: removed here.
    cleanups.push(() => readdirSync("/var/lib/cni/results").filter((f) => f.startsWith(`${networkName}-`)).forEach((f) => rmSync(join("/var/lib/cni/results", f), { force: true })));

    const network = await operator.caller.networks.create({
      text: JSON.stringify({ cniVersion: "1.0.0", name: networkName, plugins: [{ type: "bridge", bridge: `syctd${suffix}`.slice(0, 15), isGateway: true, ipam: { type: "host-local", ranges: [[{ subnet: `10.68.${third}.0/24` }]] } }] }, null, 2),
      comment: "",
    });
    networkId = network.id;
    const hostname = `sytest-${suffix}`;
    const { token } = await admin.caller.hosts.createJoinToken({ note: hostname, ttlMinutes: 10 });
    confDir = join(dirs.root, "net.d");
    mkdirSync(confDir, { recursive: true });
    // libcni's cache is ctr's (the default); services in the test's namespace. No periodic check within the test
    // (agentArgs): what the agent sees, it sees from the cache's changes and containerd's events.
    const extra = ["--observe", "auto", "--containerd-address", containerd.address, "--services", `netns:${host.name}`];
    agent = spawn(process.execPath, agentArgs({ consoleUrl: server.url, root: dirs.root, cacheDir: "/var/lib/cni", hostname, joinToken: token, extra }), { stdio: "ignore" });
    cleanups.push(() => agent?.exitCode === null && agent.kill("SIGKILL"));
    hostId = await waitFor("the host to enrol", async () => (await t.db.host.findUnique({ where: { name: hostname } }))?.id);
    await operator.caller.networks.place({ networkId, mode: "hosts", hostIds: [hostId] });
    await waitFor("the network deployed", async () => existsSync(join(confDir, `50-switchyard-${networkName}.conflist`)));

    await admin.caller.services.setCidrs({ cidrs: ["10.96.0.0/16"] });
    const svc = await operator.caller.services.create({ name: `ctd-${suffix}`, vip: VIP, spec: { ports: [{ protocol: "tcp", port: 80, targetPort: 8080 }], memberSelector: { matchLabels: { app } } } });
    serviceId = svc.id;
  }, 180_000);
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await Promise.resolve(cleanup()).catch(() => {});
    await pool.cleanup();
  });

  const observed = async (id: string) => (await c.operator.caller.networks.observed({ id: networkId })).attachments.find((a) => a.containerId === `default-${id}`);
  const members = async () => (await c.operator.caller.services.get({ id: serviceId })).members.map((m) => m.address);
  const runtimes = async () => ((await c.t.db.host.findUniqueOrThrow({ where: { id: hostId } })).observedRuntimes ?? []) as { runtime: string; ok: boolean; error?: string }[];
  const containerdStatus = async () => (await runtimes()).find((r) => r.runtime === "containerd");
  const sleep = ["/bin/sleep", "300"];
  const taskPid = async (id: string) => (await containerd.ctr(["task", "list"])).stdout.split("\n").find((l) => l.startsWith(`${id} `))!.trim().split(/\s+/)[1]!;

  it("a labelled container on the deployed network appears, joins the pool, answers through the VIP, and leaves pool and map when killed", async () => {
    const { operator, t } = c;
    const id = `sytest-a-${suffix}`;
    const started = Date.now();
    const ctr = await containerd.run({ id, netns: host.name, confDir, labels: { app, tier: "edge", "bad key;$(reboot)": "x" }, command: sleep });
    cleanups.push(() => ctr?.exitCode === null && ctr.kill("SIGKILL"));
    const seen = await waitFor("the container in the console", () => observed(id));
    const appearedMs = Date.now() - started;
    expect(seen).toMatchObject({ hostId, runtime: "containerd", name: id, image: containerd.image, networkName, ifName: "eth0", labels: { app, tier: "edge" }, labelsLeftOut: 1, state: "running" });
    expect(seen.addresses).toHaveLength(1);
    const [address] = seen.addresses[0]!.split("/");
    expect(address).toMatch(new RegExp(`^10\\.68\\.${third}\\.\\d+$`));
    // The agent ran nothing for it.
    expect(await t.db.operation.count({ where: { hostId } })).toBe(0);

    // Selected by its label; programmed on the host; answers through the VIP.
    await waitFor("the container in the pool", async () => (await members()).includes(address!));
    const pooledMs = Date.now() - started;
    cleanups.push(await serveInNetnsOf(await taskPid(id)));
    const result = await probeFromHost(c, { serviceId, hostId, count: 20 });
    expect(result.error).toBe("");
    expect(result.result, JSON.stringify(result.result)).toMatchObject({ sent: 20, answered: 20, unattributed: 0, members: [{ address, port: 8080, count: 20 }] });
    // Its lease is on the map, held by the container.
    const lease = await waitFor("its lease on the map", async () => (await operator.caller.ipam.address({ networkId, address: address! })).holders.find((h) => h.containerId === `default-${id}`));
    expect(lease.hostId).toBe(hostId);
    console.log(`containerd: ctr run → in the console ${appearedMs} ms, in the pool ${pooledMs} ms`);

    // Killed: ctr runs DEL; the container leaves the console, the pool and the map.
    const killed = Date.now();
    await containerd.ctr(["task", "kill", "--signal", "SIGKILL", id]);
    await waitFor("the container gone from the console", async () => (await observed(id)) === undefined);
    await waitFor("the container out of the pool", async () => !(await members()).includes(address!));
    const leftMs = Date.now() - killed;
    await waitFor("its lease gone from the map", async () => (await operator.caller.ipam.address({ networkId, address: address! })).holders.length === 0);
    console.log(`containerd: kill → out of the console and the pool ${leftMs} ms`);
  });

  it("containerd restarted, then hung, while the agent follows it: said so, its container kept in the pool, followed again after", async () => {
    const id = `sytest-b-${suffix}`;
    await containerd.run({ id, netns: host.name, confDir, labels: { app }, detached: true, command: sleep });
    const seen = await waitFor("the container in the console", async () => (await observed(id))?.state === "running" && observed(id));
    const [address] = seen!.addresses[0]!.split("/");
    await waitFor("the container in the pool", async () => (await members()).includes(address!));

    // Restarted: the event stream ends and the agent says containerd does not answer; its container keeps its description.
    await containerd.stop();
    const down = await waitFor("containerd reported down", async () => ((await containerdStatus())?.ok === false ? containerdStatus() : undefined));
    expect(down!.error).toMatch(/containerd/);
    expect(await observed(id)).toMatchObject({ runtime: "containerd", state: "running", labels: { app } });
    expect(await members()).toContain(address);
    await containerd.start();
    await waitFor("containerd answering again", async () => (await containerdStatus())?.ok === true, 60_000);
    expect(await observed(id)).toMatchObject({ runtime: "containerd", state: "running" });

    // Hung: its socket accepts, nothing answers, its event stream goes quiet. The next look (here: the agent's own
    // ADD for an attachment of Switchyard's, which changes the cache) times out on it; the agent goes on.
    process.kill(containerd.pid(), "SIGSTOP");
    let attachmentId = "";
    try {
      const sandbox = await pool.create();
      const loopback = await c.operator.caller.networks.create({ text: JSON.stringify({ cniVersion: "1.0.0", name: `sytest-lo-${suffix}`, plugins: [{ type: "loopback" }] }), comment: "" });
      const { attachment } = await c.operator.caller.attachments.create({ hostId, networkId: loopback.id, target: { kind: "netns", name: sandbox.name }, ifName: "eth9", portMappings: [] });
      attachmentId = attachment.id;
      await waitFor("the attachment ready while containerd hangs", async () => (await c.t.db.attachment.findUniqueOrThrow({ where: { id: attachmentId } })).state === "ready", 30_000);
      const hung = await waitFor("containerd reported not answering", async () => ((await containerdStatus())?.ok === false ? containerdStatus() : undefined), 60_000);
      expect(hung!.error).toMatch(/did not answer within/);
      expect(await observed(id)).toMatchObject({ runtime: "containerd", state: "running" });
      expect(await members()).toContain(address);
    } finally {
      process.kill(containerd.pid(), "SIGCONT");
    }
    // Woken, it answers the next look (here: the detach's DEL, which changes the cache).
    await c.operator.caller.attachments.detach({ id: attachmentId });
    await waitFor("containerd answering again", async () => (await containerdStatus())?.ok === true, 60_000);

    // Stopped without DEL (ctr run -d never runs it): its cache entry stays, so only containerd's event (the task
    // exited) tells; it leaves the pool while the console still shows it, stopped.
    await containerd.ctr(["task", "kill", "--signal", "SIGKILL", id]);
    await waitFor("the container shown stopped", async () => (await observed(id))?.state === "stopped");
    await waitFor("the container out of the pool", async () => !(await members()).includes(address!));
  });
});
