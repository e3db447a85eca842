import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isRoot, useTestConsole } from "./harness";
import { type BackendBench, countAnswers, createBackendBench } from "./support/backends";
import { spawnNodeInNetns } from "./support/netns-process";
import { type ClientCounts, KEEPALIVE_CLIENT, controllableBackend } from "./support/proxy-bench";
import { type ServicesAgent, startServicesAgent } from "./support/services-agent";
import { createServiceProgrammer } from "./support/services-program";
import { waitFor } from "./wait";

/**
 * Services on the proxy plane through a real agent and console (issue 14): the agent puts the VIP
 * on its sink, lets it through its nftables table, forks the built proxy in the host's namespace
 * and hands it the console's desired services; passive health reaches the service page; a proxy
 * killed with SIGKILL is started again. Clients in their own namespace; nothing leaves them.
 */

const PROXIED = { dataPlane: "proxy", proxy: { ports: [{ port: 80, kind: "http" }], passiveHealth: { consecutiveFailures: 3, baseEjectionSeconds: 120 } } };

/** The proxy processes in `netns` (its primary and workers: `switchyard-agent.mjs proxy …`), by their command line. */
function proxyPids(netns: string): { primary: number | null; all: number[] } {
  const pids = execFileSync("ip", ["netns", "pids", netns]).toString().split(/\s+/).filter(Boolean).map(Number);
  const proxies = pids.filter((pid) => {
    try {
      const args = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
      return args.some((a) => /switchyard-agent(\.mjs)?$/.test(a)) && args.includes("proxy");
    } catch {
      return false;
    }
  });
  const parentOf = (pid: number) => Number(readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")[1]);
  const primary = proxies.find((pid) => !proxies.includes(parentOf(pid))) ?? null;
  return { primary, all: proxies };
}

describe.runIf(isRoot)("services on the proxy plane through a real agent (issue 14)", { timeout: 180_000 }, () => {
  const c = useTestConsole();
  let bench: BackendBench;
  let agent: ServicesAgent;

  beforeAll(async () => {
    bench = await createBackendBench({ count: 3, serverScript: controllableBackend, lifetimeMs: 600_000 });
    agent = await startServicesAgent(c, { servicesNetns: bench.host.name, extra: ["--services-check", "5000", "--proxy-workers", "1", "--metrics-push", "1000"] });
    await c.admin.caller.services.setCidrs({ cidrs: ["10.96.0.0/16"] });
  }, 60_000);
  afterAll(async () => {
    await agent?.cleanup();
    await bench?.cleanup();
  });

  const program = createServiceProgrammer(c, () => bench, () => agent);
  const load = async (netns: string, vip: string, requests: number, concurrency = 4): Promise<ClientCounts> => {
    const p = spawnNodeInNetns(netns, KEEPALIVE_CLIENT, [vip, "80", String(requests), String(concurrency), "3000", "/"], { lifetimeMs: 60_000 });
    try {
      return JSON.parse(await p.waitForLine(/^\{/, 60_000)) as ClientCounts;
    } finally {
      await p.stop();
    }
  };
  let serviceId = "";
  const vip = "10.96.0.21";

  it("an HTTP service on the proxy: spread 1:2:3 exactly, its VIP an address of the sink, let through by the kernel's table (also from the host itself)", async () => {
    serviceId = await program({ name: "web", vip, weights: { "backend-0": 100, "backend-1": 200, "backend-2": 300 }, spec: PROXIED });
    const counts = await load(bench.client.netns.name, vip, 600);
    expect(counts.failures, counts.errors.join(", ")).toBe(0);
    expect(counts.byName).toEqual({ "backend-0": 100, "backend-1": 200, "backend-2": 300 });

    const addresses = execFileSync("ip", ["-n", bench.host.name, "-j", "addr", "show", "dev", "sy-svc0"]).toString();
    expect(addresses).toContain(`"local":"${vip}"`);
    const table = execFileSync("ip", ["netns", "exec", bench.host.name, "nft", "list", "set", "ip", "switchyard", "proxy-vips"]).toString();
    expect(table).toContain(vip);
    // The host's own connection passes vip-check's drop of the service CIDR.
    const fromHost = await load(bench.host.name, vip, 30, 1);
    expect(fromHost.statuses).toEqual({ "200": 30 });

    // The page's probe: requests from the host, each one's member named by the proxy (there is no conntrack DNAT to read).
    const started = await c.operator.caller.services.startProbe({ serviceId, hostId: agent.hostId, protocol: "tcp", port: 80, source: { kind: "host" }, count: 60 });
    const probe = await waitFor("the probe to finish", async () => {
      const p = await c.operator.caller.services.probe({ id: started.id });
      return p.status === "done" || p.status === "failed" ? p : undefined;
    }, 60_000);
    expect(probe.error).toBe("");
    expect(probe.result).toMatchObject({ sent: 60, answered: 60, membersKnown: true, unattributed: 0 });
    const byAddress = Object.fromEntries(probe.result!.members.map((m) => [m.address, m.count]));
    // One worker, round robin: exactly 1:2:3 of 60.
    expect(byAddress).toEqual({ [bench.backends[0]!.address]: 10, [bench.backends[1]!.address]: 20, [bench.backends[2]!.address]: 30 });

    // Per-member counters and latency histograms reach the console's /metrics with the agent's push.
    const { token } = await c.operator.caller.tokens.create({ name: "prometheus", scope: "general", role: "viewer", readOnly: true });
    const member2 = `${bench.backends[2]!.address}:8080`;
    const countIn = (body: string) =>
      [...body.matchAll(new RegExp(`^switchyard_proxy_requests_total\\{[^}]*member="${member2.replaceAll(".", "\\.")}"[^}]*\\} (\\d+)`, "gm"))].reduce((a, m) => a + Number(m[1]), 0);
    // 300 of the 600, 15 of the host's 30 and 30 of the probe's 60 went to backend-2: the pushed counters get there.
    const text = await waitFor("the proxy's request count for backend-2 on /metrics", async () => {
      const res = await fetch(`${c.server.url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
      const body = await res.text();
      return countIn(body) >= 345 ? body : undefined;
    }, 20_000);
    expect(countIn(text)).toBe(345);
    expect(text).toMatch(new RegExp(`switchyard_proxy_request_duration_seconds_bucket\\{[^}]*member="${member2.replaceAll(".", "\\.")}"`));
  });

  it("a member answering 500 is ejected by passive health before its active check could notice, and the service page says why", async () => {
    // An active check every 30 s with 3 failures to mark down: 90 s at the least. Passive health acts on the third 500.
    await program({ id: serviceId, name: "web", vip, spec: { ...PROXIED, healthCheck: { kind: "http", path: "/", intervalSeconds: 30, timeoutSeconds: 2, unhealthyThreshold: 3 } } });
    const b0 = bench.backends[0]!;
    const from = b0.process.lines.length;
    b0.process.writeLine("mode 500");
    await b0.process.waitForLine(/^mode 500$/, 5000, from);
    try {
      const counts = await load(bench.client.netns.name, vip, 90, 1);
      expect(counts.statuses["500"]).toBe(3);
      expect(counts.statuses["200"]).toBe(87);
      const member = await waitFor("the ejection on the service page", async () => {
        const s = await c.operator.caller.services.get({ id: serviceId });
        return s.members.find((m) => m.address === b0.address && m.ejections.length > 0);
      }, 15_000);
      expect(member.ejections[0]).toMatchObject({ hostId: agent.hostId, member: `${b0.address}:8080` });
      expect(member.ejections[0]!.reason).toContain("3 consecutive");
      // The active check has not marked it down: passive health acted first.
      expect(member.health).not.toBe("unhealthy");
    } finally {
      const again = b0.process.lines.length;
      b0.process.writeLine("mode ok");
      await b0.process.waitForLine(/^mode ok$/, 5000, again);
    }
  });

  it("the proxy killed with SIGKILL is started again by the agent: the service answers within 10 s", async () => {
    const before = proxyPids(bench.host.name);
    expect(before.primary).not.toBeNull();
    const killedAt = Date.now();
    process.kill(before.primary!, "SIGKILL");
    const answered = await waitFor("the service to answer again", async () => {
      const r = await load(bench.client.netns.name, vip, 1, 1).catch(() => null);
      return r?.statuses["200"] === 1 ? Date.now() : undefined;
    }, 20_000);
    const after = proxyPids(bench.host.name);
    expect(after.primary).not.toBe(before.primary);
    expect(answered - killedAt, `answered again ${answered - killedAt} ms after the kill`).toBeLessThan(10_000);
    // And it runs the whole config again: the spread is exact once more (backend-0 may still be ejected: count the other two).
    const counts = await load(bench.client.netns.name, vip, 300);
    expect(counts.failures).toBe(0);
    expect(counts.statuses).toEqual({ "200": 300 });
  });

  it("moved back to the kernel plane: the VIP leaves the sink's addresses and the kernel's table carries it", async () => {
    await program({ id: serviceId, name: "web", vip, spec: { dataPlane: "kernel" } });
    const addresses = execFileSync("ip", ["-n", bench.host.name, "-j", "addr", "show", "dev", "sy-svc0"]).toString();
    expect(addresses).not.toContain(`"local":"${vip}"`);
    // The kernel balances connections, not requests: a new connection each (three equal members: one missed in 60 is 3 · (2/3)⁶⁰).
    const counts = await countAnswers({ clientNetns: bench.client.netns.name, address: vip, port: 80, requests: 60 });
    expect(counts.failures, counts.errors.join(", ")).toBe(0);
    expect(Object.keys(counts.byName).sort()).toEqual(["backend-0", "backend-1", "backend-2"]);
  });
});
