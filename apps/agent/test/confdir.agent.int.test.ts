/**
 * Issue 16 §1–2 through a real agent (the built bundle) and console: a network placed on the host
 * appears in the agent's conf dir byte for byte, follows a new revision, is restored after a hand
 * edit (restore policy) or reported with its diff (warn), and leaves with its placement; the
 * files the agent did not write are untouched throughout. The console shows each step per host.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createTestDirs, randomSuffix } from "@switchyard/cni/test-host";
import { afterAll, describe, expect, it } from "vitest";
import { agentArgs, isRoot, useTestConsole } from "./harness";
import { waitFor } from "./wait";

const text = (name: string, bridge: string) => `{
  "cniVersion": "1.0.0",
  "name": "${name}",
  "plugins": [{ "type": "bridge", "bridge": "${bridge}", "ipam": { "type": "host-local", "subnet": "10.63.0.0/24" } }]
}
`;

describe.runIf(isRoot)("networks deployed to a real agent's conf dir (issue 16)", { timeout: 120_000 }, () => {
  const c = useTestConsole();
  let agent: ChildProcess | undefined;
  const cleanups: (() => unknown)[] = [];
  afterAll(async () => {
    if (agent?.exitCode === null) agent.kill("SIGKILL");
    for (const cleanup of cleanups.reverse()) await Promise.resolve(cleanup()).catch(() => {});
  });

  it("deploys, follows revisions, restores or reports drift, undeploys; other files untouched", async () => {
    const { t, admin, operator, server } = c;
    const dirs = await createTestDirs();
    cleanups.push(() => dirs.remove());
    const confDir = join(dirs.root, "net.d");
    mkdirSync(confDir, { recursive: true });
    const podman = `{"cniVersion":"0.4.0","name":"podman","plugins":[{"type":"bridge","bridge":"cni-podman0","ipam":{"type":"host-local","subnet":"10.88.0.0/16"}}]}\n`;
    writeFileSync(join(confDir, "87-podman-bridge.conflist"), podman);

    const name = `sytest-dep-${randomSuffix()}`;
    const network = await operator.caller.networks.create({ text: text(name, "sydep0"), comment: "" });
    const hostname = `sytest-${randomSuffix()}`;
    const { token } = await admin.caller.hosts.createJoinToken({ note: hostname, ttlMinutes: 10 });
    // The conf dir is checked with each reconcile interval: 1.5 s here.
    agent = spawn(process.execPath, agentArgs({ consoleUrl: server.url, root: dirs.root, cacheDir: dirs.cacheDir, hostname, joinToken: token, extra: ["--reconcile-interval", "1500"] }), { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    agent.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    const hostId = await waitFor("the host to enrol", async () => (await t.db.host.findUnique({ where: { name: hostname } }))?.id);
    const file = join(confDir, `50-switchyard-${name}.conflist`);
    const status = async () => (await operator.caller.networks.deployments({ id: network.id })).hosts.find((h) => h.hostId === hostId);

    const placedAt = Date.now();
    await operator.caller.networks.place({ networkId: network.id, mode: "hosts", hostIds: [hostId] });
    await waitFor("the network's file in the conf dir", async () => existsSync(file) && readFileSync(file, "utf8") === text(name, "sydep0"));
    const deployedMs = Date.now() - placedAt;
    expect(await waitFor("the console to show revision 1 deployed", async () => ((await status())?.current ? status() : undefined))).toMatchObject({ placed: true, wantedRevision: 1, file: { state: "deployed", revision: 1 } });

    // A new revision reaches the file by a rollout, through the host's doorbell.
    await operator.caller.networks.update({ id: network.id, expectedRevision: 1, text: text(name, "sydep1"), comment: "r2" });
    await operator.caller.networks.startRollout({ networkId: network.id, revision: 2 });
    await waitFor("revision 2 in the file", async () => readFileSync(file, "utf8") === text(name, "sydep1"));
    await waitFor("the console to show revision 2", async () => (await status())?.file?.revision === 2 && (await status())?.current);

    // Restore policy (the default): a hand edit is written back within a check.
    writeFileSync(file, text(name, "by-hand"));
    await waitFor("the edited file restored", async () => readFileSync(file, "utf8") === text(name, "sydep1"), 15_000);
    await waitFor("the console to show the restore", async () => (await status())?.file?.action === "restore");
    expect((await status())?.file).toMatchObject({ change: "edited", state: "deployed" });
    expect((await status())?.file?.diff).toContain("by-hand");

    // Warn policy: left as the operator made it, shown with its diff.
    await operator.caller.networks.place({ networkId: network.id, mode: "hosts", hostIds: [hostId], drift: "warn" });
    writeFileSync(file, text(name, "by-hand-2"));
    const drifted = await waitFor("the console to show the drift", async () => {
      const s = await status();
      return s?.file?.state === "drifted" ? s : undefined;
    }, 15_000);
    expect(drifted.file).toMatchObject({ change: "edited", revision: 2 });
    expect(drifted.file?.diff).toMatch(/-.*sydep1[\s\S]*\+.*by-hand-2/);
    expect(drifted.current).toBe(false);
    expect(readFileSync(file, "utf8")).toBe(text(name, "by-hand-2"));

    // Undeployed: restore policy again so the edited file goes too; the file the agent did not write stays.
    await operator.caller.networks.place({ networkId: network.id, mode: "hosts", hostIds: [hostId], drift: "restore" });
    await waitFor("restored once more", async () => readFileSync(file, "utf8") === text(name, "sydep1"), 15_000);
    await operator.caller.networks.unplace({ id: network.id });
    await waitFor("the file removed", async () => !existsSync(file));
    await waitFor("the console to drop the host's row", async () => (await status()) === undefined);
    expect(readFileSync(join(confDir, "87-podman-bridge.conflist"), "utf8")).toBe(podman);
    expect(stderr).not.toMatch(/"level":"error"/);
    console.log(`conf dir deployment: placed → file written in ${deployedMs} ms`);
  });
});
