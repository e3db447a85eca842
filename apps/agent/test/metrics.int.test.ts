/**
 * Issue 13 §5 through a real agent: it attaches a sandbox with the real bridge + host-local
 * plugins and pushes its metrics through the console; the console's /metrics then serves the
 * plugin calls, reconcile runs and leases with the host's name. The agent listens on no socket.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { parseMetricsText } from "@switchyard/api/testing";
import { bridgeConflist, createTestDirs, deleteBridge, randomSuffix } from "@switchyard/cni/test-host";
import { afterAll, describe, expect, it } from "vitest";
import { agentArgs, isRoot, useTestConsole } from "./harness";
import { waitFor } from "./wait";

describe.runIf(isRoot)("agent metrics, pushed through the console (issue 13 §5)", { timeout: 120_000 }, () => {
  const c = useTestConsole();
  let agent: ChildProcess | undefined;
  const cleanups: (() => unknown)[] = [];

  afterAll(async () => {
    if (agent?.exitCode === null) agent.kill("SIGKILL");
    for (const cleanup of cleanups.reverse()) await Promise.resolve(cleanup()).catch(() => {});
  });

  it("plugin calls, reconcile runs and leases appear with the host label; push delay via the stream; no listening socket", async () => {
    const { t, admin, operator, server } = c;
    const { token: scrapeToken } = await operator.caller.tokens.create({ name: "prometheus", scope: "general", role: "viewer", readOnly: true });
    const scrape = async () => {
      const res = await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${scrapeToken}` } });
      expect(res.status).toBe(200);
      return parseMetricsText(await res.text());
    };
    const before = await scrape();

    const dirs = await createTestDirs();
    cleanups.push(() => dirs.remove());
    // Leases are read only under /var/lib/cni (the agent's allowed root).
    const dataDir = `/var/lib/cni/sytest-metrics-${randomSuffix()}`;
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const { conflist, names } = bridgeConflist({ dataDir, ipv4: true });
    cleanups.push(() => deleteBridge(names.bridge));
    const network = await operator.caller.networks.create({ text: JSON.stringify(conflist, null, 2), comment: "" });
    const hostname = `sytest-${randomSuffix()}`;
    mkdirSync(join(dirs.root, "net.d"), { recursive: true });
    const { token } = await admin.caller.hosts.createJoinToken({ note: hostname, ttlMinutes: 10 });
    agent = spawn(process.execPath, agentArgs({ consoleUrl: server.url, root: dirs.root, cacheDir: dirs.cacheDir, hostname, joinToken: token, extra: ["--plugin-timeout", "20000", "--metrics-push", "1000"] }), { stdio: "ignore" });
    const hostId = await waitFor("the host to enrol", async () => (await t.db.host.findUnique({ where: { name: hostname } }))?.id);
    // Work pushed through an open stream: wait for the agent's stream before queueing it.
    await waitFor("the agent's push stream", async () => ((await scrape()).value("switchyard_push_streams_open") ?? 0) > (before.value("switchyard_push_streams_open") ?? 0));

    const sandbox = `sytest-${randomSuffix()}`;
    cleanups.push(() => spawn("ip", ["netns", "del", sandbox]));
    const { attachment } = await operator.caller.attachments.create({ hostId, networkId: network.id, target: { kind: "sandbox", name: sandbox }, ifName: "eth0", portMappings: [] });
    await waitFor("the attachment to be ready", async () => (await t.db.attachment.findUniqueOrThrow({ where: { id: attachment.id } })).state === "ready");

    const host = { host: hostname };
    const m = await waitFor(
      "the agent's metrics with the ADD and its lease",
      async () => {
        const now = await scrape();
        const adds = now.value("switchyard_agent_plugin_calls_total", { ...host, plugin: "bridge", verb: "ADD", outcome: "ok" }) ?? 0;
        const leases = now.value("switchyard_agent_leases", { ...host, network: names.network }) ?? 0;
        return adds >= 1 && leases === 1 ? now : undefined;
      },
      30_000,
    );
    // The ADD's chain: host-local ran as bridge's IPAM plugin (its own exec), portmap is not in this chain.
    expect(m.value("switchyard_agent_plugin_call_duration_seconds_count", { ...host, plugin: "bridge", verb: "ADD" })).toBeGreaterThanOrEqual(1);
    expect(m.value("switchyard_agent_plugin_call_duration_seconds_sum", { ...host, plugin: "bridge", verb: "ADD" })).toBeGreaterThan(0);
    expect(m.value("switchyard_agent_reconcile_runs_total", { ...host, outcome: "ok" })).toBeGreaterThanOrEqual(1);
    expect(m.value("switchyard_agent_reconcile_duration_seconds_count", host)).toBeGreaterThanOrEqual(1);
    expect(m.value("switchyard_agent_lease_reports_total", { ...host, outcome: "ok" })).toBeGreaterThanOrEqual(1);
    expect(m.find("switchyard_agent_plugin_calls_total", { host: "another-host" })).toEqual([]);
    // The console's side of the same operation.
    const delta = (name: string, labels: Record<string, string>) => (m.value(name, labels) ?? 0) - (before.value(name, labels) ?? 0);
    expect(delta("switchyard_operation_push_delay_seconds_count", { via: "push" })).toBeGreaterThanOrEqual(1);
    expect(delta("switchyard_operations_finished_total", { kind: "attach", outcome: "succeeded" })).toBe(1);
    expect(delta("switchyard_trpc_requests_total", { endpoint: "agent", procedure: "agent.reportMetrics", status: "200" })).toBeGreaterThanOrEqual(1);

    // The agent (and its spawner helper) listen on nothing: its metrics leave only through the console.
    const listening = execFileSync("ss", ["-H", "-l", "-n", "-p", "-t", "-u", "-x", "-w"], { encoding: "utf8" });
    const pids = [agent.pid!, ...execFileSync("ps", ["-o", "pid=", "--ppid", String(agent.pid)], { encoding: "utf8" }).split("\n").map((s) => Number(s.trim())).filter(Boolean)];
    for (const pid of pids) expect(listening.split("\n").filter((l) => l.includes(`pid=${pid},`))).toEqual([]);

    await operator.caller.attachments.detach({ id: attachment.id });
    await waitFor("the detach", async () => (await t.db.attachment.findUniqueOrThrow({ where: { id: attachment.id } })).state === "detached");
    await waitFor("the DEL in the metrics", async () => ((await scrape()).value("switchyard_agent_plugin_calls_total", { ...host, plugin: "bridge", verb: "DEL", outcome: "ok" }) ?? 0) >= 1);
  });
});
