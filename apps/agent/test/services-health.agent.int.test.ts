/**
 * Issue 12, Health, through a real agent: a sandbox attached with the real bridge plugin runs an
 * HTTP server; the pool selects it by label; the agent checks it over HTTP from its host, the
 * console takes it out when it stops answering (within interval × threshold) and back when it
 * answers again, and the agent's table follows. Traffic: the agent's own checks to a sandbox it
 * attached; the table goes to a namespace the test made (`--services netns:<name>`).
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { bridgeConflist, createTestDirs, deleteBridge, randomSuffix } from "@switchyard/cni/test-host";
import { afterAll, describe, expect, it } from "vitest";
import { agentArgs, isRoot, useTestConsole } from "./harness";
import { type NetnsProcess, spawnNodeInNetns } from "./support/netns-process";
import { waitFor } from "./wait";

const server = (address: string) => `
require("node:http").createServer((req, res) => { res.writeHead(req.url === "/healthz" ? 200 : 404); res.end("ok"); })
  .listen(8080, ${JSON.stringify(address)}, () => console.log("ready"));
process.on("SIGTERM", () => process.exit(0));
`;

describe.runIf(isRoot)("health checks by a real agent (issue 12)", { timeout: 180_000 }, () => {
  const c = useTestConsole();
  let agent: ChildProcess | undefined;
  let backend: NetnsProcess | undefined;
  const cleanups: (() => unknown)[] = [];
  afterAll(async () => {
    if (agent?.exitCode === null) agent.kill("SIGKILL");
    await backend?.stop();
    for (const cleanup of cleanups.reverse()) await Promise.resolve(cleanup()).catch(() => {});
  });

  it("a stopped backend is marked down within interval × threshold and leaves the table; it comes back when it answers again", async () => {
    const { t, admin, operator, server: console_ } = c;
    const dirs = await createTestDirs();
    cleanups.push(() => dirs.remove());
    const dataDir = `/var/lib/cni/sytest-health-${randomSuffix()}`;
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    // isGateway: the host holds the bridge's address, so its agent reaches the sandbox.
    const { conflist, names } = bridgeConflist({ dataDir, ipv4: true, isGateway: true });
    cleanups.push(() => deleteBridge(names.bridge));
    const servicesNetns = `sytest-hc-${randomSuffix()}`;
    execFileSync("ip", ["netns", "add", servicesNetns]);
    cleanups.push(() => execFileSync("ip", ["netns", "del", servicesNetns]));
    mkdirSync(join(dirs.root, "net.d"), { recursive: true });
    const hostname = `sytest-${randomSuffix()}`;
    const { token } = await admin.caller.hosts.createJoinToken({ note: hostname, ttlMinutes: 10 });
    agent = spawn(process.execPath, agentArgs({ consoleUrl: console_.url, root: dirs.root, cacheDir: dirs.cacheDir, hostname, joinToken: token, extra: ["--services", `netns:${servicesNetns}`, "--plugin-timeout", "20000"] }), { stdio: "ignore" });
    const hostId = await waitFor("the host to enrol", async () => (await t.db.host.findUnique({ where: { name: hostname } }))?.id);

    const network = await operator.caller.networks.create({ text: JSON.stringify(conflist), comment: "" });
    const sandbox = `sytest-${randomSuffix()}`;
    cleanups.push(() => spawn("ip", ["netns", "del", sandbox]));
    const { attachment } = await operator.caller.attachments.create({ hostId, networkId: network.id, target: { kind: "sandbox", name: sandbox }, labels: { app: "checked" } });
    const result = await waitFor("the attachment to be ready", async () => {
      const a = await t.db.attachment.findUniqueOrThrow({ where: { id: attachment.id } });
      return a.state === "ready" ? (a.result as { ips: { address: string }[] }) : undefined;
    });
    const address = result.ips[0]!.address.split("/")[0]!;
    backend = spawnNodeInNetns(sandbox, server(address));
    await backend.waitForLine(/ready/, 10_000);

    await admin.caller.services.setCidrs({ cidrs: ["10.96.0.0/16"] });
    const svc = await operator.caller.services.create({
      name: "checked",
      vip: "10.96.0.30",
      spec: {
        ports: [{ protocol: "tcp", port: 80, targetPort: 8080 }],
        memberSelector: { matchLabels: { app: "checked" } },
        healthCheck: { kind: "http", path: "/healthz", intervalSeconds: 1, timeoutSeconds: 1, healthyThreshold: 1, unhealthyThreshold: 2 },
      },
    });
    const member = async () => (await operator.caller.services.get({ id: svc.id })).members.find((m) => m.address === address);
    const nft = (map: string) => execFileSync("ip", ["netns", "exec", servicesNetns, "nft", "list", "map", "ip", "switchyard", map], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    await waitFor("the member to be healthy", async () => (await member())?.health === "healthy", 20_000);
    expect((await member())!.lastCheck).toMatchObject({ message: expect.stringContaining("200") });
    await waitFor("the VIP to be dispatched", async () => nft("service-ips").includes("10.96.0.30 . tcp . 80"), 10_000);

    // Stopped: two failed checks one second apart, then the verdict travels to every host.
    await backend.stop();
    const stoppedAt = Date.now();
    await waitFor("the member to be unhealthy", async () => (await member())?.health === "unhealthy", 15_000);
    const markedMs = Date.now() - stoppedAt;
    expect(markedMs).toBeLessThan(8_000);
    expect((await member())!.selectable).toBe(false);
    // No member takes connections: the VIP answers with a reject.
    await waitFor("the VIP to be rejected", async () => nft("no-endpoint-services").includes("10.96.0.30 . tcp . 80"), 10_000);

    // Back: healthy after one good check, and dispatched again.
    backend = spawnNodeInNetns(sandbox, server(address));
    await backend.waitForLine(/ready/, 10_000);
    await waitFor("the member to be healthy again", async () => (await member())?.health === "healthy", 15_000);
    await waitFor("the VIP to be dispatched again", async () => nft("service-ips").includes("10.96.0.30 . tcp . 80"), 10_000);
  });
});
