import { fileURLToPath } from "node:url";
import { type TestNetns, createNetnsPool, run } from "@switchyard/cni/test-host";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { HealthTarget } from "../src/services/health-checker";
import { isRoot } from "./harness";
import { linkNamespaces } from "./support/host-netns";
import { type NetnsProcess, spawnNodeInNetns } from "./support/netns-process";

// Active health checks against real servers in namespaces the test creates: the checker runs in
// a "host" namespace, the members in another, linked by a veth (10.60.0.0/24).
const MEMBER = "10.60.0.2";
const HTTP_SERVER = `
const http = require("node:http");
let status = 200;
process.on("SIGUSR1", () => { status = status === 200 ? 503 : 200; console.log("status " + status); });
http.createServer((req, res) => {
  if (req.url === "/healthz") { res.writeHead(status); res.end(status === 200 ? "ok" : "draining"); }
  else if (req.url === "/redirect") { res.writeHead(302, { location: "http://${MEMBER}:8080/healthz" }); res.end(); }
  else if (req.url === "/hang") { console.log("hang " + Date.now()); /* never answers */ }
  else if (req.url === "/big-header") { res.writeHead(200, { "x-big": "a".repeat(20000) }); res.end(); }
  else { res.writeHead(404); res.end(); }
}).listen(8080, "::", () => console.log("ready"));
`;
const TCP_SERVER = `require("node:net").createServer((s) => s.end()).listen(9090, "${MEMBER}", () => console.log("ready"));`;

const timing = { intervalMs: 200, timeoutMs: 150, healthyThreshold: 2, unhealthyThreshold: 3 };
const targets: HealthTarget[] = [
  { key: "http", address: MEMBER, port: 8080, check: { kind: "http", path: "/healthz", expectedStatus: 200, ...timing } },
  { key: "tcp", address: MEMBER, port: 9090, check: { kind: "tcp", ...timing } },
  { key: "redirect", address: MEMBER, port: 8080, check: { kind: "http", path: "/redirect", expectedStatus: 200, ...timing } },
  { key: "hang", address: MEMBER, port: 8080, check: { kind: "http", path: "/hang", expectedStatus: 200, ...timing } },
  { key: "http6", address: "fd00:60::2", port: 8080, check: { kind: "http", path: "/healthz", expectedStatus: 200, ...timing } },
  { key: "big-header", address: MEMBER, port: 8080, check: { kind: "http", path: "/big-header", expectedStatus: 200, ...timing } },
];

interface Report { key: string; t: number; result: string; message: string; latencyMs: number; status: string; failures: number; successes: number; transition: string | null }

describe.skipIf(!isRoot)("health checks against members in namespaces", () => {
  const pool = createNetnsPool();
  let host: TestNetns;
  let members: TestNetns;
  const procs: NetnsProcess[] = [];
  let http: NetnsProcess;
  let checker: NetnsProcess;

  const startChecker = async (list: HealthTarget[], maxConcurrent: number) => {
    const runner = fileURLToPath(new URL("./support/health-runner.ts", import.meta.url));
    const p = spawnNodeInNetns(host.name, runner, [JSON.stringify(list), "50000", String(maxConcurrent)], { isFile: true, nodeFlags: ["--import", "tsx"], lifetimeMs: 55_000, hasStdin: true });
    procs.push(p);
    await p.waitForLine(/"ready":true/, 20_000);
    return p;
  };
  const startTcp = async () => {
    const p = spawnNodeInNetns(members.name, TCP_SERVER, [], { lifetimeMs: 60_000 });
    procs.push(p);
    await p.waitForLine(/^ready$/);
    return p;
  };
  const reports = () => checker.lines.filter((l) => l.startsWith('{"key"')).map((l) => JSON.parse(l) as Report);
  const waitForReport = async (pred: (r: Report) => boolean, timeoutMs = 15_000): Promise<Report> =>
    JSON.parse(await checker.waitForLine((l) => l.startsWith('{"key"') && pred(JSON.parse(l) as Report), timeoutMs)) as Report;

  beforeAll(async () => {
    [host, members] = [await pool.create(), await pool.create()];
    await linkNamespaces({ netns: host.name, ifname: "syh0", cidr: "10.60.0.1/24" }, { netns: members.name, ifname: "sym0", cidr: `${MEMBER}/24` });
    await run("ip", ["-n", host.name, "-6", "addr", "add", "fd00:60::1/64", "dev", "syh0", "nodad"]);
    await run("ip", ["-n", members.name, "-6", "addr", "add", "fd00:60::2/64", "dev", "sym0", "nodad"]);
    http = spawnNodeInNetns(members.name, HTTP_SERVER, [], { lifetimeMs: 60_000 });
    procs.push(http);
    await http.waitForLine(/^ready$/);
    await startTcp();
    checker = await startChecker(targets, 4);
  });
  afterAll(async () => {
    for (const p of procs) await p.stop();
    await pool.cleanup();
  });

  it("HTTP: healthy after 2 answers of 200, unhealthy after 3 of 503, healthy again", async () => {
    const up = await waitForReport((r) => r.key === "http" && r.transition === "unknown>healthy");
    expect(up).toMatchObject({ result: "success", message: "HTTP 200", successes: 2 });
    expect(reports().filter((r) => r.key === "http" && r.t <= up.t)).toHaveLength(2);

    http.child.kill("SIGUSR1");
    await http.waitForLine(/^status 503$/);
    const down = await waitForReport((r) => r.key === "http" && r.transition === "healthy>unhealthy");
    expect(down).toMatchObject({ result: "failure", message: "HTTP 503 (expected 200): draining", failures: 3 });
    const failuresBefore = reports().filter((r) => r.key === "http" && r.t <= down.t && r.result === "failure");
    expect(failuresBefore).toHaveLength(3);
    // Marked down after interval × threshold: the three failing probes began one interval apart (a
    // report comes when its probe ends; a probe that waited for a slot under load reports late).
    const began = (r: Report) => r.t - r.latencyMs;
    expect(began(down) - began(failuresBefore[0]!)).toBeGreaterThanOrEqual(2 * timing.intervalMs - 20);

    http.child.kill("SIGUSR1");
    await http.waitForLine(/^status 200$/);
    expect(await waitForReport((r) => r.key === "http" && r.transition === "unhealthy>healthy")).toMatchObject({ successes: 2 });
  });

  it("IPv6 members are checked on their address (bracketed in the Host header)", async () => {
    // The 503 flip above may have caught its first checks: wait for the verdict, whichever way it came.
    expect(await waitForReport((r) => r.key === "http6" && r.status === "healthy")).toMatchObject({ result: "success", message: "HTTP 200" });
    expect(reports().filter((r) => r.key === "http6" && r.result === "failure").every((r) => r.message.startsWith("HTTP 503"))).toBe(true);
  });

  it("TCP: a listener stopped mid-test is marked down after 3 refused connects, up again when it returns", async () => {
    await waitForReport((r) => r.key === "tcp" && r.transition === "unknown>healthy");
    const tcp = procs.find((p) => p !== http && p !== checker)!;
    await tcp.stop();
    const down = await waitForReport((r) => r.key === "tcp" && r.transition === "healthy>unhealthy");
    expect(down).toMatchObject({ result: "failure", failures: 3 });
    expect(down.message).toContain("ECONNREFUSED");
    await startTcp();
    const up = await waitForReport((r) => r.key === "tcp" && r.transition === "unhealthy>healthy");
    expect(up).toMatchObject({ result: "success", message: `TCP connect to ${MEMBER}:9090` });
    expect(up.latencyMs).toBeGreaterThanOrEqual(0);
  });

  it("a redirect is a failure, never followed; a hung member times out; oversized headers fail", async () => {
    const redirect = await waitForReport((r) => r.key === "redirect" && r.transition === "unknown>unhealthy");
    expect(redirect.message).toBe("HTTP 302 (expected 200)");
    const hang = await waitForReport((r) => r.key === "hang" && r.transition === "unknown>unhealthy");
    expect(hang).toMatchObject({ result: "timeout", failures: 3 });
    expect(hang.message).toContain("within 150 ms");
    expect(hang.latencyMs).toBeGreaterThanOrEqual(150);
    const big = await waitForReport((r) => r.key === "big-header" && r.transition === "unknown>unhealthy");
    expect(big.message).toMatch(/HPE_HEADER_OVERFLOW/);
    // Nothing but failures for those three: no report ever said success.
    expect(reports().filter((r) => ["redirect", "hang", "big-header"].includes(r.key) && r.result === "success")).toEqual([]);
  });

  it("targets change while running: a removed member stops being checked, a changed check starts over, bad targets are refused", async () => {
    await waitForReport((r) => r.key === "tcp" && r.status === "healthy");
    const mark = checker.lines.length;
    checker.writeLine(JSON.stringify(targets.filter((t) => t.key !== "tcp")));
    await checker.waitForLine(/"updated":true/, 5000, mark);
    await new Promise((r) => setTimeout(r, 3 * timing.intervalMs));
    const afterRemoval = checker.lines.length;
    await new Promise((r) => setTimeout(r, 3 * timing.intervalMs));
    expect(checker.lines.slice(afterRemoval).filter((l) => l.includes('"key":"tcp"'))).toEqual([]);
    expect(checker.lines.slice(afterRemoval).some((l) => l.includes('"key":"http"'))).toBe(true);

    // Back with another check (healthy after 1): unknown again, then healthy on its first success.
    const back = checker.lines.length;
    checker.writeLine(JSON.stringify([...targets.filter((t) => t.key !== "tcp"), { ...targets[1], check: { ...targets[1]!.check, healthyThreshold: 1 } }]));
    const up = JSON.parse(await checker.waitForLine((l) => l.includes('"key":"tcp"') && l.includes('"unknown>healthy"'), 10_000, back)) as Report;
    expect(up).toMatchObject({ successes: 1 });

    const before = checker.lines.length;
    checker.writeLine(JSON.stringify([{ ...targets[0], address: "127.0.0.1" }]));
    expect(await checker.waitForLine(/"refused"/, 5000, before)).toMatch(/loopback address: it cannot be checked as a member/);
    checker.writeLine(JSON.stringify([targets[0], targets[0]]));
    expect(await checker.waitForLine((l) => l.includes('"refused"') && l.includes("listed twice"), 5000, before)).toMatch(/key \\"http\\" is listed twice/);
  });

  it("never runs more checks at once than maxConcurrent, each cut at its timeout", async () => {
    // Twelve members that never answer, checked at most 3 at a time. A slot is reused only after
    // its check timed out (150 ms), so the server never sees more than 3 requests arrive within
    // 100 ms (50 ms of slack for scheduling); without the bound, all twelve arrive together.
    const hung = Array.from({ length: 12 }, (_, i): HealthTarget => ({ key: `hung-${i}`, address: MEMBER, port: 8080, check: { kind: "http", path: "/hang", expectedStatus: 200, ...timing } }));
    await checker.stop();
    const from = http.lines.length;
    const bounded = await startChecker(hung, 3);
    // Every member reaches its verdict despite the queue.
    for (let i = 0; i < 12; i++) await bounded.waitForLine((l) => l.includes(`"key":"hung-${i}"`) && l.includes('"unknown>unhealthy"'), 20_000);
    await bounded.stop();
    const arrivals = http.lines.slice(from).filter((l) => l.startsWith("hang ")).map((l) => Number(l.split(" ")[1]));
    expect(arrivals.length).toBeGreaterThanOrEqual(36);
    const busiest = Math.max(...arrivals.map((t) => arrivals.filter((u) => u >= t && u < t + 100).length));
    expect(busiest).toBeLessThanOrEqual(3);
    expect(busiest).toBeGreaterThanOrEqual(2);
    const timeouts = bounded.lines.filter((l) => l.includes('"result":"timeout"')).map((l) => JSON.parse(l) as Report);
    expect(timeouts.length).toBeGreaterThanOrEqual(36);
    // The hard timeout holds: no check ran much past its 150 ms.
    expect(Math.max(...timeouts.map((r) => r.latencyMs))).toBeLessThan(150 + 250);
  });
});
