/**
 * ADD+DEL cycles of a bridge + host-local network through @switchyard/cni's runtime versus the same
 * plugin spawned directly (env + stdin, nothing else), in the same run. See bench/README.md.
 *
 *   npx tsx bench/cni-add-del.ts [--cycles 50] [--concurrency 16] [--rounds 5]
 *
 * Root only: it creates network namespaces `sytest-bench-*`, bridges `sybr*`, and removes them.
 */
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { type Spawner, createCniRuntime, inProcessSpawner, loadNetworkList } from "../packages/cni/src/index";
import { clamp, quantile, row } from "./stats";

const { values: flags } = parseArgs({
  options: {
    cycles: { type: "string", default: "50" },
    concurrency: { type: "string", default: "16" },
    rounds: { type: "string", default: "5" },
  },
});
const CYCLES = clamp(Number(flags.cycles), 1, 1000);
const CONCURRENCY = clamp(Number(flags.concurrency), 1, 64);
const ROUNDS = clamp(Number(flags.rounds), 1, 50);
const DEADLINE = Date.now() + 10 * 60_000; // the whole run is bounded
const PLUGIN_DIRS = ["/opt/cni/bin", "/usr/lib/cni"];
const CNI_PATH = PLUGIN_DIRS.join(":");
const BRIDGE = PLUGIN_DIRS.map((d) => join(d, "bridge")).find((p) => existsSync(p));
const PLUGIN_TIMEOUT_MS = 20_000;


function run(cmd: string, args: string[]): Promise<number | null> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: "ignore" });
    child.on("error", () => resolve(-1));
    child.on("close", resolve);
  });
}

// ---- The direct baseline: the smallest correct invocation of a CNI plugin. ----------------------
function execPlugin(path: string, env: Record<string, string>, stdin: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(path, [], { env, stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.resume();
    const timer = setTimeout(() => child.kill("SIGKILL"), PLUGIN_TIMEOUT_MS);
    child.on("error", reject);
    // EPIPE: the plugin exited without reading its config (e.g. its namespace was deleted under it
    // by a Ctrl-C's cleanup); its exit status tells the rest.
    child.stdin.on("error", () => {});
    child.on("close", (code) => {
      clearTimeout(timer);
      const text = Buffer.concat(out).toString();
      code === 0 ? resolve(text) : reject(new Error(`plugin exited ${code}: ${text}`));
    });
    child.stdin.end(stdin);
  });
}

interface Network {
  name: string;
  bridge: string;
  conflist: { cniVersion: string; name: string; plugins: Record<string, unknown>[] };
  text: string;
}

function makeNetwork(tag: string, octet: number, dataDir: string): Network {
  const name = `sybench-${tag}-${process.pid}`;
  const bridge = `sybr${tag}${process.pid % 100000}`.slice(0, 15);
  const conflist = {
    cniVersion: "1.0.0",
    name,
    plugins: [
      {
        type: "bridge",
        bridge,
        // No isGateway/ipMasq: the benchmark must not change the host's forwarding or firewall.
        ipam: { type: "host-local", dataDir, ranges: [[{ subnet: `10.${octet}.0.0/16` }]] },
      },
    ],
  };
  return { name, bridge, conflist, text: JSON.stringify(conflist) };
}

/**
 * CPU time (user + system, ms) of this process's children that have exited and been waited for:
 * cutime + cstime of /proc/self/stat, in ticks of 10 ms (USER_HZ 100) — summed over many cycles.
 */
function childrenCpuMs(): number {
  const fields = readFileSync("/proc/self/stat", "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[13]) + Number(fields[14])) * 10;
}

// Time spent inside plugin runs (spawn to exit, fork included) per side, for the sequential cycles:
// a cycle minus it is what each side does on its own.
const inPlugins = { runtime: 0, direct: 0 };

/** The runtime's default spawner, timed. */
const timedSpawner: Spawner = {
  async run(spec, hooks) {
    const t0 = performance.now();
    try {
      return await inProcessSpawner.run(spec, hooks);
    } finally {
      inPlugins.runtime += performance.now() - t0;
    }
  },
  close() {},
};

async function timedExec(path: string, env: Record<string, string>, stdin: string): Promise<string> {
  const t0 = performance.now();
  try {
    return await execPlugin(path, env, stdin);
  } finally {
    inPlugins.direct += performance.now() - t0;
  }
}

async function directCycle(net: Network, containerId: string, netns: string): Promise<void> {
  const plugin = net.conflist.plugins[0]!;
  const base = { CNI_CONTAINERID: containerId, CNI_NETNS: netns, CNI_IFNAME: "eth0", CNI_PATH, PATH: process.env.PATH ?? "/usr/sbin:/usr/bin" };
  const conf = { ...plugin, name: net.name, cniVersion: net.conflist.cniVersion };
  const result = JSON.parse(await timedExec(BRIDGE!, { ...base, CNI_COMMAND: "ADD" }, JSON.stringify(conf))) as unknown;
  await timedExec(BRIDGE!, { ...base, CNI_COMMAND: "DEL" }, JSON.stringify({ ...conf, prevResult: result }));
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error("run as root: the benchmark creates network namespaces");
  if (!BRIDGE) throw new Error(`no bridge plugin in ${CNI_PATH}`);
  const root = await mkdtemp(join(tmpdir(), "sytest-bench-"));
  const namespaces: string[] = [];
  const rtNet = makeNetwork("r", 250, join(root, "ipam"));
  const dirNet = makeNetwork("d", 251, join(root, "ipam"));
  let cleaning: Promise<void> | undefined;
  // Idempotent: a signal during the final cleanup waits for the same one.
  const cleanup = () =>
    (cleaning ??= (async () => {
      for (const ns of namespaces) await run("ip", ["netns", "del", ns]);
      for (const br of [rtNet.bridge, dirNet.bridge]) await run("ip", ["link", "del", br]);
      await rm(root, { recursive: true, force: true });
    })());
  // The first Ctrl-C stops at the next cycle (the cycles in flight finish, bounded by the plugin
  // timeout; their files must not be written after the cleanup); a second one cleans up at once.
  // process.on, not once: later signals must not kill the cleanup.
  let interrupted = false;
  const onSignal = () => {
    process.exitCode = 130;
    if (!interrupted) {
      interrupted = true;
      console.error("interrupted: finishing the cycles in flight, then cleaning up (again to stop now)");
      return;
    }
    void cleanup().finally(() => process.exit(130));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    for (let i = 0; i < CONCURRENCY; i++) {
      const ns = `sytest-bench-${process.pid}-${i}`;
      if ((await run("ip", ["netns", "add", ns])) !== 0) throw new Error(`ip netns add ${ns} failed`);
      namespaces.push(ns);
    }
    const nsPath = (i: number) => `/var/run/netns/${namespaces[i]}`;
    const runtime = createCniRuntime({ pluginDirs: PLUGIN_DIRS, cacheDir: join(root, "cache"), timeoutMs: PLUGIN_TIMEOUT_MS, spawner: timedSpawner });
    const net = loadNetworkList(rtNet.text);
    const runtimeCycle = async (containerId: string, netns: string) => {
      const rt = { containerId, netns, ifName: "eth0" };
      await runtime.addNetworkList(net, rt);
      await runtime.delNetworkList(net, rt);
    };
    const time = async (f: () => Promise<void>) => {
      const t0 = performance.now();
      await f();
      return performance.now() - t0;
    };
    /** A cycle's wall time and, of it, the time outside plugin runs. */
    const own = { runtime: [] as number[], direct: [] as number[] };
    // This process's CPU time per cycle (user + system, forks included, the plugins' own not): on a
    // loaded machine the wall clock stretches every step, CPU time much less.
    const cpu = { runtime: [] as number[], direct: [] as number[] };
    // The plugins' own CPU per side (they are this process's children): whether a side's plugin runs do more work.
    const pluginCpu = { runtime: 0, direct: 0 };
    const inside = { runtime: [] as number[], direct: [] as number[] };
    const timeOwn = async (side: "runtime" | "direct", f: () => Promise<void>) => {
      const before = inPlugins[side];
      const cpu0 = process.cpuUsage();
      const children0 = childrenCpuMs();
      const wall = await time(f);
      const used = process.cpuUsage(cpu0);
      pluginCpu[side] += childrenCpuMs() - children0;
      cpu[side].push((used.user + used.system) / 1000);
      inside[side].push(inPlugins[side] - before);
      own[side].push(wall - (inPlugins[side] - before));
      return wall;
    };
    const checkDeadline = () => {
      if (interrupted) throw new Error("interrupted");
      if (Date.now() > DEADLINE) throw new Error("benchmark deadline exceeded");
    };

    // Warm-up: first exec of each path (page cache, bridge creation) is not measured.
    await runtimeCycle("warm-r", nsPath(0));
    await directCycle(dirNet, "warm-d", nsPath(0));

    // Sequential, interleaved (alternating which goes first) so both share the machine's noise.
    const seq = { runtime: [] as number[], direct: [] as number[] };
    for (let i = 0; i < CYCLES; i++) {
      checkDeadline();
      const r = () => timeOwn("runtime", () => runtimeCycle(`seq-r-${i}`, nsPath(0)));
      const d = () => timeOwn("direct", () => directCycle(dirNet, `seq-d-${i}`, nsPath(0)));
      if (i % 2 === 0) {
        seq.runtime.push(await r());
        seq.direct.push(await d());
      } else {
        seq.direct.push(await d());
        seq.runtime.push(await r());
      }
    }

    // Concurrent: CONCURRENCY cycles at once, one namespace each; rounds alternate which side goes first.
    const conc = { runtime: [] as number[], direct: [] as number[], runtimeWall: [] as number[], directWall: [] as number[] };
    // A cycle's latency counts from the batch's start: spawn() blocks the event loop while it forks, so a
    // clock started inside each cycle would start late on whichever side reaches its first spawn sooner.
    const batch = async (side: "runtime" | "direct", round: number) => {
      const lat: number[] = [];
      const start = performance.now();
      await Promise.all(
        namespaces.map(async (_ns, i) => {
          const id = `conc-${side[0]}-${round}-${i}`;
          await (side === "runtime" ? runtimeCycle(id, nsPath(i)) : directCycle(dirNet, id, nsPath(i)));
          lat.push(performance.now() - start);
        }),
      );
      const wall = performance.now() - start;
      conc[side].push(...lat);
      conc[side === "runtime" ? "runtimeWall" : "directWall"].push(wall);
    };
    for (let round = 0; round < ROUNDS; round++) {
      checkDeadline();
      if (round % 2 === 0) {
        await batch("runtime", round);
        await batch("direct", round);
      } else {
        await batch("direct", round);
        await batch("runtime", round);
      }
    }

    const ratio = (a: number[], b: number[]) => (quantile(a, 0.5) / quantile(b, 0.5)).toFixed(3);
    console.log(`cni-add-del: bridge + host-local (${BRIDGE}), node ${process.version}, ${new Date().toISOString()}`);
    console.log(`\nsequential ADD+DEL cycles (interleaved)`);
    console.log(row("  runtime", seq.runtime));
    console.log(row("  direct", seq.direct));
    console.log(`  ratio runtime/direct (median)  ${ratio(seq.runtime, seq.direct)}   (p90 ${(quantile(seq.runtime, 0.9) / quantile(seq.direct, 0.9)).toFixed(3)})`);
    // Each pair ran back to back, so its difference cancels the drift of a shared machine's load.
    const paired = quantile(seq.runtime.map((r, i) => r - seq.direct[i]!), 0.5);
    console.log(`  paired: median(runtime − direct) ${paired.toFixed(2)} ms → ratio ${(1 + paired / quantile(seq.direct, 0.5)).toFixed(3)}`);
    console.log(row("  runtime, outside plugin runs", own.runtime));
    console.log(row("  direct, outside plugin runs", own.direct));
    console.log(row("  runtime, inside plugin runs", inside.runtime));
    console.log(row("  direct, inside plugin runs", inside.direct));
    console.log(`  paired: median(runtime − direct) inside plugin runs ${quantile(inside.runtime.map((r, i) => r - inside.direct[i]!), 0.5).toFixed(2)} ms`);
    // Ticks of 10 ms, summed over the sequential cycles.
    console.log(`  the plugins' own CPU per cycle (mean): runtime ${(pluginCpu.runtime / seq.runtime.length).toFixed(1)} ms, direct ${(pluginCpu.direct / seq.direct.length).toFixed(1)} ms`);
    console.log(row("  runtime, CPU of this process", cpu.runtime));
    console.log(row("  direct, CPU of this process", cpu.direct));
    const cpuPaired = quantile(cpu.runtime.map((r, i) => r - cpu.direct[i]!), 0.5);
    console.log(`  paired: median(runtime − direct) CPU ${cpuPaired.toFixed(2)} ms per cycle`);
    console.log(`\n${CONCURRENCY} concurrent ADD+DEL cycles × ${ROUNDS} rounds`);
    console.log(row("  runtime, per cycle", conc.runtime));
    console.log(row("  direct, per cycle", conc.direct));
    console.log(row("  runtime, batch wall", conc.runtimeWall));
    console.log(row("  direct, batch wall", conc.directWall));
    console.log(`  ratio runtime/direct (median per cycle)  ${ratio(conc.runtime, conc.direct)}`);
    console.log(`  ratio runtime/direct (median batch wall) ${ratio(conc.runtimeWall, conc.directWall)}`);
    console.log(`\ntarget: ratio ≤ 1.05`);
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    await cleanup();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode ||= 1;
});
