/**
 * Issue 14's L4 figure: throughput of a TCP listener of the userspace proxy (switchyard-proxy,
 * `kind: "tcp"`) against the kernel VIP of the same member (nftables DNAT, the table rendered by
 * packages/dataplane as the agent programs it) and against the member addressed directly, in one
 * run, interleaved rounds. See bench/README.md.
 *
 *   sudo npx tsx bench/proxy-tcp.ts                           # 3 rounds × 5 s per target, 4 connections, 64 MiB each
 *   sudo npx tsx bench/proxy-tcp.ts --rounds 5 --duration-s 8 --parallel 8 --mib 128
 *   sudo npx tsx bench/proxy-tcp.ts --proxy-cpus 1 --load-cpus 0 --workers 1  # the default layout
 *
 * The namespaces are the services bench's (apps/agent/test/support/backends.ts) with the client
 * routed through the host, so every target crosses the host namespace: direct is forwarded, the
 * kernel VIP is DNAT'd and forwarded, the proxy terminates the connection and opens its own. One
 * backend streams --mib MiB to each connection and closes it; the client (Node, in its namespace)
 * keeps --parallel connections reading until --duration-s has passed. The proxy runs pinned to
 * --proxy-cpus; the client and the backend to --load-cpus (the kernel's DNAT runs in the softirq of
 * whoever sends, so on the load side). Bounded: each connection's bytes, each round's time (and a
 * kill timer), the whole run. Everything is removed on exit, on error and on Ctrl-C.
 * Needs the proxy's bundle (cd apps/agent && npm run build) and nft.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { listNetns, run } from "@switchyard/cni/test-host";
import type { DesiredServices } from "../packages/dataplane/src/desired";
import { applyTransaction } from "../packages/dataplane/src/nft";
import { planSync } from "../packages/dataplane/src/transaction";
import { type BackendBench, createBackendBench } from "../apps/agent/test/support/backends";
import { CLK_TCK, type Started, busyShare, cpuList, cpuTicks, cpuTimes, load, processTree, sleep, startIn, stopAll, userPlusSystem } from "./processes";
import { clamp, median } from "./stats";

const TARGET_NAMES = ["direct", "kernel-vip", "proxy"] as const;
type TargetName = (typeof TARGET_NAMES)[number];

const { values: flags } = parseArgs({
  options: {
    rounds: { type: "string", default: "3" },
    "duration-s": { type: "string", default: "5" },
    "warmup-s": { type: "string", default: "1" },
    parallel: { type: "string", default: "4" },
    mib: { type: "string", default: "64" },
    workers: { type: "string", default: "1" },
    "proxy-cpus": { type: "string", default: "1" },
    "load-cpus": { type: "string", default: "0" },
    targets: { type: "string", default: TARGET_NAMES.join(",") },
    /** A directory: switchyard-proxy (primary and workers) runs with `--cpu-prof` and writes its profiles there. */
    "profile-dir": { type: "string" },
  },
});
const ROUNDS = clamp(Number(flags.rounds), 1, 10);
const DURATION_S = clamp(Number(flags["duration-s"]), 1, 30);
const WARMUP_S = clamp(Number(flags["warmup-s"]), 0, 10);
const PARALLEL = clamp(Number(flags.parallel), 1, 64);
const MIB = clamp(Number(flags.mib), 1, 1024);
const WORKERS = clamp(Number(flags.workers), 1, 16);
const PROXY_CPUS = cpuList(flags["proxy-cpus"], "--proxy-cpus");
const LOAD_CPUS = cpuList(flags["load-cpus"], "--load-cpus");
const TARGETS = flags.targets.split(",").map((t) => {
  if (!(TARGET_NAMES as readonly string[]).includes(t)) throw new Error(`--targets: "${t}" is not a target: use a comma-separated list of ${TARGET_NAMES.join(", ")}`);
  return t as TargetName;
});
/** A connection in flight when the round's time is up still reads its --mib: the kill timer allows for it. */
const ROUND_BOUND_S = (s: number) => s + 30;
const DEADLINE_MS = ROUNDS * TARGETS.length * (ROUND_BOUND_S(DURATION_S) + ROUND_BOUND_S(WARMUP_S)) * 1000 + 120_000;

/** The proxy is the agent's own file run as `switchyard-agent proxy`, as hosts run it. */
const PROXY_BUNDLE = fileURLToPath(new URL("../apps/agent/dist/switchyard-agent.mjs", import.meta.url));
const SINK = "sypx0";
/** The kernel's service CIDR and VIP (DNAT), and the proxy's VIP (an address on the sink), each CIDR blackholed. */
const KERNEL_CIDR = "10.96.80.0/24";
const KERNEL_VIP = "10.96.80.10";
const PROXY_CIDR = "10.96.70.0/24";
const PROXY_VIP = "10.96.70.11";
const VIP_PORT = 80;

/** Set by a signal or the run's bound: nothing more is measured. */
let stopping = false;

/** The backend: every connection gets MIB MiB, written with backpressure, then the end of the stream. */
const streamingBackend = (_name: string, addresses: readonly string[]) => `
const net = require("node:net");
const chunk = Buffer.alloc(256 * 1024, 120);
const total = ${MIB} * 1024 * 1024;
const addresses = ${JSON.stringify(addresses)};
let pending = addresses.length;
for (const address of addresses) {
  const server = net.createServer((s) => {
    s.on("error", () => {});
    s.resume();
    let sent = 0;
    const pump = () => {
      while (sent < total) {
        sent += chunk.length;
        if (!s.write(chunk)) return void s.once("drain", pump);
      }
      s.end();
    };
    pump();
  });
  server.listen(8080, address, () => { if (--pending === 0) console.log("ready"); });
}
process.on("SIGTERM", () => process.exit(0));
`;

/** The client: PARALLEL connections in turn, each read to its end, until the time is up; one JSON line. */
const CLIENT = `
const net = require("node:net");
const [host, port, parallel, seconds, expected] = process.argv.slice(1);
const until = performance.now() + Number(seconds) * 1000;
let bytes = 0, connections = 0, short = 0; const errors = [];
const one = () => new Promise((resolve) => {
  let got = 0;
  const s = net.connect({ host, port: Number(port) });
  s.on("data", (b) => { got += b.length; });
  s.on("error", (e) => { if (errors.length < 5) errors.push(e.code || e.message); });
  s.on("close", () => { bytes += got; connections++; if (got !== Number(expected)) short++; resolve(); });
});
const worker = async () => { while (performance.now() < until) await one(); };
const t0 = performance.now();
Promise.all(Array.from({ length: Number(parallel) }, worker)).then(() => {
  console.log(JSON.stringify({ bytes, seconds: (performance.now() - t0) / 1000, connections, short, errors }));
});
`;

// ---------------------------------------------------------------------------------------------

/** CPU ticks (user + system) and system ticks alone of a set of processes. */
const ticksOf = (pids: number[]) => userPlusSystem(cpuTicks(pids));
const systemTicksOf = (pids: number[]) => cpuTicks(pids).system;

async function stop(s: Started | null): Promise<void> {
  if (!s?.child.pid || s.child.exitCode !== null || s.child.signalCode !== null) return;
  await stopAll([s]);
}

async function startProxy(netns: string, dir: string, member: { address: string; port: number }): Promise<Started> {
  const file = join(dir, "proxy.json");
  const config = {
    version: 1,
    accessLog: { enabled: false },
    listeners: [
      { serviceId: "bench", serviceName: "bench", address: PROXY_VIP, port: VIP_PORT, kind: "tcp", balance: { algorithm: "round-robin" }, pools: { default: [{ ...member, weight: 100, state: "active", health: "none" }] } },
    ],
  };
  writeFileSync(file, JSON.stringify(config));
  // The cluster forks its workers with the primary's execArgv: each writes its own profile when it stops.
  const nodeFlags = flags["profile-dir"] ? ["--cpu-prof", `--cpu-prof-dir=${flags["profile-dir"]}`] : [];
  const s = startIn("switchyard-proxy", netns, PROXY_CPUS.spec, process.execPath, [...nodeFlags, PROXY_BUNDLE, "proxy", "--config", file, "--workers", String(WORKERS), "--grace-ms", "1000"]);
  const until = Date.now() + 20_000;
  for (;;) {
    const line = s.stdout.find((l) => /"type":"(applied|refused)"/.test(l));
    if (line) {
      const e = JSON.parse(line) as { type: string; errors?: unknown[]; error?: string };
      if (e.type === "refused") throw new Error(`switchyard-proxy refused the bench's config: ${e.error}`);
      if ((e.errors ?? []).length > 0) throw new Error(`switchyard-proxy could not listen: ${JSON.stringify(e.errors)}`);
      return s;
    }
    if (s.child.exitCode !== null || s.child.signalCode !== null) throw new Error(`switchyard-proxy exited (${s.child.exitCode ?? s.child.signalCode}): ${s.stderr.trim().slice(0, 800)}`);
    if (Date.now() > until) throw new Error(`switchyard-proxy did not apply its config within 20 s; stderr: ${s.stderr.slice(0, 800)}`);
    await sleep(20);
  }
}

/** The kernel plane as the agent programs it: the table for one service (the member, no affinity), the CIDR blackholed, the VIP routed to the sink. */
async function programKernelVip(netns: string, member: { address: string; port: number }): Promise<void> {
  const desired: DesiredServices = {
    version: 1,
    family: 4,
    serviceCidrs: [KERNEL_CIDR],
    services: [
      {
        id: "bench",
        name: "bench",
        vip: KERNEL_VIP,
        ports: [{ protocol: "tcp", port: VIP_PORT, targetPort: member.port }],
        affinity: null,
        members: [{ address: member.address, port: null, weight: 100, state: "active", health: "none", localCidr: "10.70.0.0/24" }],
      },
    ],
  };
  await applyTransaction(planSync(null, desired).transaction, { netns, timeoutMs: 20_000 });
  await run("ip", ["-n", netns, "route", "add", "blackhole", KERNEL_CIDR]);
  await run("ip", ["-n", netns, "route", "add", `${KERNEL_VIP}/32`, "dev", SINK]);
}

interface ClientResult {
  bytes: number;
  seconds: number;
  connections: number;
  short: number;
  errors: string[];
}

async function runClient(bench: BackendBench, address: string, port: number, seconds: number): Promise<ClientResult> {
  const s = startIn("client", bench.client.netns.name, LOAD_CPUS.spec, process.execPath, ["-e", CLIENT, address, String(port), String(PARALLEL), String(seconds), String(MIB * 1024 * 1024)]);
  const kill = setTimeout(() => s.child.kill("SIGKILL"), ROUND_BOUND_S(seconds) * 1000);
  await s.exited;
  clearTimeout(kill);
  if (stopping) throw new Error("stopped");
  const line = s.stdout.find((l) => l.startsWith("{"));
  if (!line) throw new Error(`the client to ${address}:${port} exited ${s.child.exitCode ?? s.child.signalCode} without a result: ${s.stderr.slice(0, 800)}`);
  return JSON.parse(line) as ClientResult;
}

interface Sample {
  round: number;
  mbps: number;
  result: ClientResult;
  /** The proxy's CPU seconds per GB carried; NaN for the others. */
  proxyCpuSPerGB: number;
  /** Of it, in the kernel (the copies in and out of the process, both TCP stacks). */
  proxySystemSPerGB: number;
  /** Share of the proxy CPUs' time the proxy itself used (its CPU time ÷ wall time × CPUs). */
  proxyShare: number;
  /** Share of each CPU set's time anyone used. */
  proxyBusy: number;
  loadBusy: number;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error("run as root: the bench creates network namespaces (sudo npx tsx bench/proxy-tcp.ts)");
  if (TARGETS.includes("proxy") && !existsSync(PROXY_BUNDLE)) throw new Error(`${PROXY_BUNDLE} is missing: build it (cd apps/agent && npm run build), or leave the target out (--targets direct,kernel-vip)`);
  if (PROXY_CPUS.ids.some((c) => LOAD_CPUS.ids.includes(c))) console.log(`warning: --proxy-cpus ${PROXY_CPUS.spec} and --load-cpus ${LOAD_CPUS.spec} overlap`);
  const dir = mkdtempSync(join(tmpdir(), "sy-proxy-tcp-"));
  let bench: BackendBench | null = null;
  /** The bench while it is being built: a Ctrl-C then waits for it, so that its namespaces are removed too. */
  let building: Promise<BackendBench> | null = null;
  let proxy: Started | null = null;
  let cleaning: Promise<void> | null = null;
  const cleanup = () =>
    (cleaning ??= (async () => {
      stopping = true;
      bench ??= await building?.catch(() => null) ?? null;
      await stop(proxy);
      const ours = bench ? [bench.host.name, bench.client.netns.name, ...bench.backends.map((b) => b.netns.name)] : [];
      // The client of a round cut short, or anything else left in our namespaces: end it by pid.
      for (const ns of ours) {
        const { stdout } = await run("ip", ["netns", "pids", ns], { check: false });
        for (const pid of stdout.split(/\s+/).filter(Boolean)) {
          if (bench?.backends.some((b) => b.process.child.pid === Number(pid))) continue; // the bench stops its own
          try {
            process.kill(Number(pid), "SIGKILL");
          } catch {
            // gone
          }
        }
      }
      await bench?.cleanup();
      rmSync(dir, { recursive: true, force: true });
      const left = (await listNetns()).filter((n) => ours.includes(n));
      console.log(left.length > 0 ? `cleanup: NOT clean: namespaces left ${left.join(", ")}` : `cleanup checked: ${ours.length} namespaces removed`);
    })());
  const onSignal = (signal: NodeJS.Signals) => {
    if (cleaning === null) console.log(`\n${signal}: cleaning up`);
    void cleanup().finally(() => process.exit(130));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const deadline = setTimeout(() => {
    console.log(`\nthe run's bound (${Math.round(DEADLINE_MS / 1000)} s) passed: cleaning up`);
    void cleanup().finally(() => process.exit(1));
  }, DEADLINE_MS);

  execFileSync("taskset", ["-a", "-p", "-c", LOAD_CPUS.spec, String(process.pid)], { stdio: "ignore" });
  console.log(`load average before: ${load()}; ${cpus().length} CPUs: proxy on ${PROXY_CPUS.spec} (${WORKERS} worker${WORKERS > 1 ? "s" : ""}), client + backend on ${LOAD_CPUS.spec}; ${PARALLEL} connections × ${MIB} MiB`);
  if (TARGETS.includes("proxy")) console.log(`switchyard-agent bundle (run as "proxy"): ${PROXY_BUNDLE} (built ${statSync(PROXY_BUNDLE).mtime.toISOString()})`);
  try {
    building = createBackendBench({ count: 1, client: "routed", serverScript: streamingBackend, lifetimeMs: DEADLINE_MS });
    bench = await building;
    const backend = bench.backends[0]!;
    execFileSync("taskset", ["-a", "-p", "-c", LOAD_CPUS.spec, String(backend.process.child.pid)], { stdio: "ignore" });
    const host = bench.host.name;
    await run("ip", ["-n", host, "link", "add", SINK, "type", "veth", "peer", "name", `${SINK}p`]);
    await run("ip", ["-n", host, "link", "set", SINK, "up"]);
    await run("ip", ["-n", host, "addr", "add", `${PROXY_VIP}/32`, "dev", SINK]);
    await run("ip", ["-n", host, "route", "add", "blackhole", PROXY_CIDR]);
    const member = { address: backend.address, port: backend.port };
    if (TARGETS.includes("kernel-vip")) await programKernelVip(host, member);
    if (TARGETS.includes("proxy")) proxy = await startProxy(host, dir, member);
    const addressOf: Record<TargetName, [string, number]> = { direct: [member.address, member.port], "kernel-vip": [KERNEL_VIP, VIP_PORT], proxy: [PROXY_VIP, VIP_PORT] };

    const samples = new Map<TargetName, Sample[]>(TARGETS.map((t) => [t, []]));
    for (let r = 0; r < ROUNDS; r++) {
      const order = TARGETS.map((_, i) => TARGETS[(i + r) % TARGETS.length]!);
      for (const t of order) {
        const [address, port] = addressOf[t];
        if (WARMUP_S > 0) await runClient(bench, address, port, WARMUP_S);
        const pids = t === "proxy" && proxy ? processTree(proxy.child.pid!) : [];
        const p0 = ticksOf(pids);
        const s0 = systemTicksOf(pids);
        const c0 = cpuTimes();
        const result = await runClient(bench, address, port, DURATION_S);
        const proxyS = (ticksOf(pids) - p0) / CLK_TCK;
        const systemS = (systemTicksOf(pids) - s0) / CLK_TCK;
        const c1 = cpuTimes();
        if (result.short > 0 || result.errors.length > 0) throw new Error(`${t}: ${result.short} of ${result.connections} connections ended short of ${MIB} MiB (${result.errors.join(", ") || "no error"})`);
        const s: Sample = {
          round: r,
          result,
          mbps: result.bytes / 1e6 / result.seconds,
          proxyCpuSPerGB: t === "proxy" ? proxyS / (result.bytes / 1e9) : Number.NaN,
          proxySystemSPerGB: t === "proxy" ? systemS / (result.bytes / 1e9) : Number.NaN,
          proxyShare: t === "proxy" ? proxyS / result.seconds / PROXY_CPUS.ids.length : Number.NaN,
          proxyBusy: busyShare(c0, c1, PROXY_CPUS.ids),
          loadBusy: busyShare(c0, c1, LOAD_CPUS.ids),
        };
        samples.get(t)!.push(s);
        const busy = `busy (anyone): ${Math.round(s.proxyBusy * 100)} % / ${Math.round(s.loadBusy * 100)} % of CPUs ${PROXY_CPUS.spec} / ${LOAD_CPUS.spec}`;
        console.log(`round ${r + 1} ${t.padEnd(10)} ${s.mbps.toFixed(0).padStart(6)} MB/s  ${result.connections} connections in ${result.seconds.toFixed(1)} s${t === "proxy" ? `  proxy ${s.proxyCpuSPerGB.toFixed(2)} CPU s/GB (system ${s.proxySystemSPerGB.toFixed(2)}), used ${Math.round(s.proxyShare * 100)} % of CPUs ${PROXY_CPUS.spec}` : ""}  ${busy}`);
      }
    }
    const med = (t: TargetName, f: (s: Sample) => number) => median((samples.get(t) ?? []).map(f));
    const paired = (a: TargetName, b: TargetName) => {
      const bs = samples.get(b) ?? [];
      return median((samples.get(a) ?? []).flatMap((s) => {
        const other = bs.find((x) => x.round === s.round);
        return other ? [s.mbps / other.mbps] : [];
      }));
    };
    console.log(`\n== ${ROUNDS} rounds × ${DURATION_S} s per target, ${PARALLEL} connections × ${MIB} MiB; medians of the rounds`);
    for (const t of TARGETS) {
      const busy = `busy (anyone) ${Math.round(med(t, (s) => s.proxyBusy) * 100)} % / ${Math.round(med(t, (s) => s.loadBusy) * 100)} % of CPUs ${PROXY_CPUS.spec} / ${LOAD_CPUS.spec}`;
      console.log(`${t.padEnd(11)} ${med(t, (s) => s.mbps).toFixed(0).padStart(6)} MB/s  (rounds ${(samples.get(t) ?? []).map((s) => s.mbps.toFixed(0)).join(", ")})${t === "proxy" ? `  proxy CPU ${med(t, (s) => s.proxyCpuSPerGB).toFixed(2)} s/GB (system ${med(t, (s) => s.proxySystemSPerGB).toFixed(2)}), ${Math.round(med(t, (s) => s.proxyShare) * 100)} % of CPUs ${PROXY_CPUS.spec}` : ""}; ${busy}`);
    }
    const pairs: [TargetName, TargetName][] = [
      ["proxy", "kernel-vip"],
      ["proxy", "direct"],
      ["kernel-vip", "direct"],
    ];
    console.log("ratios (of the medians; paired = median of the per-round ratios):");
    for (const [a, b] of pairs) {
      if (TARGETS.includes(a) && TARGETS.includes(b)) console.log(`  ${a} / ${b}: ${(med(a, (s) => s.mbps) / med(b, (s) => s.mbps)).toFixed(3)} (paired ${paired(a, b).toFixed(3)})`);
    }
  } finally {
    clearTimeout(deadline);
    await cleanup();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    console.log(`load average after: ${load()}`);
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 1;
});
