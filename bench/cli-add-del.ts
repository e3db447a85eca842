/**
 * switchyard-cni as a command (bin/switchyard-cni and its built bundle, as an operator runs it)
 * against the same work without it, interleaved in one run. See bench/README.md.
 *
 *   start: `switchyard-cni version <net>` and `--help` (wall, spawn → exit) vs `node -e 0`;
 *          target ≤ 80 ms on the issue's machine (printed translated to this one, and as the
 *          excess over a bare node start). Also the TypeScript-at-start path it replaced (tsx).
 *   cycle: `switchyard-cni add` + `del` vs the bridge plugin's ADD + DEL run directly (same
 *          plugins and config, a fresh namespace for each cycle made outside the clock); target ≤ 3×.
 *   floor: what any Node.js command pays for the same work, in the same run: a node process that
 *          spawns the plugin(s) and passes their output on (NODE_FLOOR below), against `version`
 *          (both VERSIONs at once) and against `add` + `del` (two such processes).
 *
 *   npx tsx bench/cli-add-del.ts [--starts 20] [--cycles 20] [--tsx-starts 5]
 *
 * Root only: it creates namespaces `sytest-clib-*` and bridges `sybrc*`/`sybrd*`, and removes them.
 * The machine may be shared: the load average is printed before and after the figures.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { clamp, median, quantile, row } from "./stats";

const { values: flags } = parseArgs({
  options: {
    starts: { type: "string", default: "20" },
    cycles: { type: "string", default: "20" },
    "tsx-starts": { type: "string", default: "5" },
  },
});
const STARTS = clamp(Number(flags.starts), 1, 200);
const CYCLES = clamp(Number(flags.cycles), 1, 200);
const TSX_STARTS = clamp(Number(flags["tsx-starts"]), 0, 20);
const DEADLINE = Date.now() + 5 * 60_000; // the whole run is bounded
const TARGET_START_MS = 80;
/**
 * Issue 10's machine ran the bridge plugin's ADD+DEL ~3.5× faster than this VM (its targets were
 * set there): "≤ 80 ms" there is about 3.5 × 80 ms here, if the whole start scales alike. It need
 * not: `node -e 0` alone takes ~79 ms on this VM, so the excess over it is printed too.
 */
const ISSUE_MACHINE_SPEEDUP = 3.5;
const TARGET_CYCLE_RATIO = 3;
const REPO = resolve(fileURLToPath(new URL("..", import.meta.url)));
const CLI = join(REPO, "packages/cni/bin/switchyard-cni");
const CLI_BUNDLE = join(REPO, "packages/cni/dist/switchyard-cni.cjs");
const CLI_SOURCE = join(REPO, "packages/cni/src/cli.ts");
const PLUGIN_DIRS = ["/opt/cni/bin", "/usr/lib/cni"];
const CNI_PATH = PLUGIN_DIRS.join(":");
const BRIDGE = PLUGIN_DIRS.map((d) => join(d, "bridge")).find((p) => existsSync(p));
const HOST_LOCAL = PLUGIN_DIRS.map((d) => join(d, "host-local")).find((p) => existsSync(p));
const TIMEOUT_MS = 30_000;

/**
 * The least a Node.js command can do for a verb: start, load node:child_process, spawn each plugin
 * given in argv (at once) with FLOOR_STDIN on its stdin, print what they printed, exit with the
 * first non-zero status. No config is read, nothing is locked or cached.
 */
const NODE_FLOOR = `const { spawn } = require("node:child_process");
const { FLOOR_STDIN: stdin, ...env } = process.env;
const runs = process.argv.slice(1).map((file) => new Promise((done) => {
  const child = spawn(file, [], { env, stdio: ["pipe", "pipe", "inherit"] });
  let out = "";
  child.stdout.on("data", (b) => (out += b));
  child.on("close", (code) => done({ out, code }));
  child.stdin.on("error", () => {}); // a plugin may exit before reading it all (EPIPE), as the runtime allows
  child.stdin.end(stdin);
}));
Promise.all(runs).then((all) => { process.stdout.write(all.map((r) => r.out).join("\\n")); process.exitCode = all.find((r) => r.code !== 0)?.code ?? 0; });`;

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Spawn → exit, wall clock; killed at TIMEOUT_MS. */
function timed(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; stdin?: string; cwd?: string } = {}): Promise<Exit> {
  return new Promise((resolvePromise) => {
    const started = performance.now();
    const child = spawn(cmd, args, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    child.stdin.on("error", () => {});
    const timer = setTimeout(() => child.kill("SIGKILL"), TIMEOUT_MS);
    child.on("error", (e) => {
      clearTimeout(timer);
      resolvePromise({ code: -1, stdout, stderr: e.message, ms: performance.now() - started });
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr, ms: performance.now() - started });
    });
    child.stdin.end(opts.stdin ?? "");
  });
}

async function must(what: string, run: Promise<Exit>): Promise<Exit> {
  const r = await run;
  if (r.code !== 0) throw new Error(`${what} exited ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
  return r;
}

const load = () => `load average ${loadavg().map((l) => l.toFixed(2)).join(" ")} (1, 5, 15 min) on ${availableParallelism()} CPUs`;

function network(tag: string, octet: number, dataDir: string) {
  const name = `sybench-cli${tag}-${process.pid}`;
  const bridge = `sybr${tag}${process.pid % 100000}`.slice(0, 15);
  // No isGateway/ipMasq: the benchmark must not change the host's forwarding or firewall.
  const conflist = { cniVersion: "1.0.0", name, plugins: [{ type: "bridge", bridge, ipam: { type: "host-local", dataDir, ranges: [[{ subnet: `10.${octet}.0.0/16` }]] } }] };
  return { name, bridge, conflist };
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error("run as root: the benchmark creates network namespaces");
  if (!BRIDGE || !HOST_LOCAL) throw new Error(`no bridge or host-local plugin in ${CNI_PATH}`);
  if (!existsSync(CLI_BUNDLE)) throw new Error(`${CLI_BUNDLE} is not built: run \`npx turbo run build --filter=@switchyard/cni\` first`);

  const root = await mkdtemp(join(tmpdir(), "sytest-clib-"));
  const confDir = join(root, "net.d");
  const cacheDir = join(root, "cache");
  await mkdir(confDir, { recursive: true });
  const viaCli = network("c", 246, join(root, "ipam"));
  const direct = network("d", 247, join(root, "ipam"));
  const floor = network("f", 248, join(root, "ipam"));
  await writeFile(join(confDir, "10-bench.conflist"), JSON.stringify(viaCli.conflist));
  const namespaces = new Set<string>();
  let cleaning: Promise<void> | undefined;
  const cleanup = () =>
    (cleaning ??= (async () => {
      for (const ns of namespaces) await timed("ip", ["netns", "del", ns]);
      for (const br of [viaCli.bridge, direct.bridge, floor.bridge]) await timed("ip", ["link", "del", br]);
      await rm(root, { recursive: true, force: true });
    })());
  let interrupted = false;
  const onSignal = () => {
    process.exitCode = 130;
    if (interrupted) void cleanup().then(() => process.exit(130));
    interrupted = true;
    console.error("interrupted: stopping after the step in flight, then cleaning up (again to stop now)");
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const running = () => !interrupted && Date.now() < DEADLINE;

  const env = { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin", NETCONFPATH: confDir, CNI_PATH };
  const cli = (...args: string[]) => timed(process.execPath, [CLI, ...args], { env });
  try {
    console.log(`switchyard-cni (${CLI.slice(REPO.length + 1)}), node ${process.version}`);
    console.log(`before: ${load()}`);

    // ---- start: the command's own cost, against a bare node start -----------------------------
    const bare: number[] = [];
    const version: number[] = [];
    const help: number[] = [];
    const versionFloor: number[] = [];
    const floorVersion = () =>
      timed(process.execPath, ["-e", NODE_FLOOR, BRIDGE, HOST_LOCAL], { env: { ...env, CNI_COMMAND: "VERSION", FLOOR_STDIN: JSON.stringify({ cniVersion: "1.0.0" }) } });
    await must("switchyard-cni version", cli("version", viaCli.name)); // warm the page cache
    await must("node spawning the VERSIONs", floorVersion());
    for (let i = 0; i < STARTS && running(); i++) {
      const sides = ["bare", "version", "help", "floor"];
      for (const side of i % 2 === 0 ? sides : sides.reverse()) {
        if (side === "bare") bare.push((await must("node -e 0", timed(process.execPath, ["-e", "0"], { env }))).ms);
        else if (side === "floor") versionFloor.push((await must("node spawning the VERSIONs", floorVersion())).ms);
        else if (side === "help") help.push((await must("switchyard-cni --help", cli("--help"))).ms);
        else version.push((await must("switchyard-cni version", cli("version", viaCli.name))).ms);
      }
    }
    const tsx: number[] = [];
    const viaTsx = `import { tsImport } from "tsx/esm/api"; const { main } = await tsImport(${JSON.stringify(pathToFileURL(CLI_SOURCE).href)}, ${JSON.stringify(pathToFileURL(REPO + "/").href)}); process.exitCode = await main(process.argv.slice(1), { env: process.env, stdout: process.stdout, stderr: process.stderr });`;
    for (let i = 0; i < TSX_STARTS && running(); i++) {
      tsx.push((await must("switchyard-cni version via tsx", timed(process.execPath, ["--input-type=module", "-e", viaTsx, "version", viaCli.name], { env, cwd: REPO }))).ms);
    }

    // ---- cycle: ADD + DEL through the command, against the plugin run directly -----------------
    const cycleCli: number[] = [];
    const cycleDirect: number[] = [];
    const cycleFloor: number[] = [];
    const paired: number[] = [];
    const pairedFloor: number[] = [];
    const pluginEnv = (command: string, containerId: string, netns: string) => ({ ...env, CNI_COMMAND: command, CNI_CONTAINERID: containerId, CNI_NETNS: netns, CNI_IFNAME: "eth0" });
    const directConf = { ...direct.conflist.plugins[0], name: direct.name, cniVersion: direct.conflist.cniVersion };
    const floorConf = { ...floor.conflist.plugins[0], name: floor.name, cniVersion: floor.conflist.cniVersion };
    for (let i = 0; i < CYCLES && running(); i++) {
      const nsCli = `sytest-clib-${process.pid}-c${i}`;
      const nsDirect = `sytest-clib-${process.pid}-d${i}`;
      const nsFloor = `sytest-clib-${process.pid}-f${i}`;
      for (const ns of [nsCli, nsDirect, nsFloor]) {
        namespaces.add(ns);
        await must(`ip netns add ${ns}`, timed("ip", ["netns", "add", ns]));
      }
      const times: Record<string, number> = {};
      // Each side goes first, second and third in turn.
      const order = ["cli", "direct", "floor"];
      for (const side of [...order.slice(i % 3), ...order.slice(0, i % 3)]) {
        if (side === "cli") {
          const path = `/run/netns/${nsCli}`;
          const add = await must("switchyard-cni add", cli("add", viaCli.name, path, "--cache-dir", cacheDir));
          const del = await must("switchyard-cni del", cli("del", viaCli.name, path, "--cache-dir", cacheDir));
          times.cli = add.ms + del.ms;
        } else if (side === "direct") {
          const path = `/run/netns/${nsDirect}`;
          const id = `bench-${i}`;
          const add = await must("bridge ADD", timed(BRIDGE, [], { env: pluginEnv("ADD", id, path), stdin: JSON.stringify(directConf) }));
          const prevResult = JSON.parse(add.stdout) as unknown;
          const del = await must("bridge DEL", timed(BRIDGE, [], { env: pluginEnv("DEL", id, path), stdin: JSON.stringify({ ...directConf, prevResult }) }));
          times.direct = add.ms + del.ms;
        } else {
          const path = `/run/netns/${nsFloor}`;
          const id = `bench-floor-${i}`;
          const viaNode = (command: string, stdin: unknown) => timed(process.execPath, ["-e", NODE_FLOOR, BRIDGE], { env: { ...pluginEnv(command, id, path), FLOOR_STDIN: JSON.stringify(stdin) } });
          const add = await must("node spawning bridge ADD", viaNode("ADD", floorConf));
          const prevResult = JSON.parse(add.stdout) as unknown;
          const del = await must("node spawning bridge DEL", viaNode("DEL", { ...floorConf, prevResult }));
          times.floor = add.ms + del.ms;
        }
      }
      cycleCli.push(times.cli!);
      cycleDirect.push(times.direct!);
      cycleFloor.push(times.floor!);
      paired.push(times.cli! / times.direct!);
      pairedFloor.push(times.cli! / times.floor!);
      for (const ns of [nsCli, nsDirect, nsFloor]) {
        await timed("ip", ["netns", "del", ns]);
        namespaces.delete(ns);
      }
    }

    const verdict = (ok: boolean) => (ok ? "met" : "MISSED");
    const translated = TARGET_START_MS * ISSUE_MACHINE_SPEEDUP;
    const above = (xs: number[]) => `median ${(median(xs) - median(bare)).toFixed(1).padStart(8)} ms, ${(median(xs) / median(bare)).toFixed(2)}× node -e 0`;
    console.log(`\nstart (spawn → exit, wall; ${bare.length} interleaved runs each)`);
    console.log(`  ${row("node -e 0 (baseline)", bare, 40)}`);
    console.log(`  ${row("switchyard-cni --help (loads no runtime)", help, 40)}`);
    console.log(`  ${"  above a bare node start".padEnd(40)} ${above(help)}`);
    console.log(`  ${row("switchyard-cni version <net>", version, 40)}   target ≤ ${TARGET_START_MS} ms: ${verdict(median(version) <= TARGET_START_MS)} here;`);
    console.log(`  ${"".padEnd(40)} ≤ ${translated} ms translated (issue's machine ${ISSUE_MACHINE_SPEEDUP}× faster): ${verdict(median(version) <= translated)}`);
    console.log(`  ${"  above a bare node start".padEnd(40)} ${above(version)} (2 plugin VERSION runs included)`);
    console.log(`  ${row("floor: node spawning the 2 VERSIONs", versionFloor, 40)}`);
    console.log(`  ${"  version / floor".padEnd(40)} ${(median(version) / median(versionFloor)).toFixed(2)}× (ratio of medians), +${(median(version) - median(versionFloor)).toFixed(1)} ms`);
    if (tsx.length > 0) console.log(`  ${row("the same through tsx (before the bundle)", tsx, 40)}   ${(median(tsx) / median(version)).toFixed(1)}× the bundle`);

    console.log(`\nADD+DEL cycle (a fresh namespace each, made outside the clock; ${cycleCli.length} interleaved cycles each)`);
    console.log(`  ${row("bridge + host-local run directly", cycleDirect, 40)}`);
    console.log(`  ${row("floor: node spawning ADD, node spawning DEL", cycleFloor, 40)}`);
    console.log(`  ${row("switchyard-cni add + del", cycleCli, 40)}`);
    const ratio = median(cycleCli) / median(cycleDirect);
    console.log(`  ratio of medians ${ratio.toFixed(2)}, paired ratio (median of per-cycle ratios) ${median(paired).toFixed(2)} (p90 ${quantile(paired, 0.9).toFixed(2)})   target ≤ ${TARGET_CYCLE_RATIO}×: ${verdict(ratio <= TARGET_CYCLE_RATIO && median(paired) <= TARGET_CYCLE_RATIO)}`);
    const floorRatio = median(cycleFloor) / median(cycleDirect);
    console.log(`  the floor itself: ${floorRatio.toFixed(2)}× the plugins; the CLI over the floor: ratio of medians ${(median(cycleCli) / median(cycleFloor)).toFixed(2)}, paired ${median(pairedFloor).toFixed(2)} (+${(median(cycleCli) - median(cycleFloor)).toFixed(1)} ms per cycle)`);
    console.log(`\nafter: ${load()}`);
    if (interrupted) console.log("(interrupted: the figures above cover the runs that finished)");
  } finally {
    await cleanup();
    const left = (await timed("ip", ["netns", "list"])).stdout.split("\n").filter((l) => l.startsWith(`sytest-clib-${process.pid}-`));
    const bridges = (await timed("ip", ["-o", "link", "show"])).stdout.split("\n").filter((l) => [viaCli.bridge, direct.bridge, floor.bridge].some((b) => l.includes(b)));
    if (left.length > 0 || bridges.length > 0 || existsSync(root)) {
      console.error(`cleanup incomplete: namespaces ${left.join(", ") || "none"}, bridges ${bridges.length}, ${existsSync(root) ? root : ""}`);
      process.exitCode = 1;
    } else console.log("cleanup checked: no namespace, bridge or file left behind");
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
