/**
 * What the proxy benchmarks (proxy-http.ts, proxy-tcp.ts) share: CPU sets from flags, processes
 * started in a namespace on given CPUs (kept, so cleanup can end them and their children), and the
 * CPU time of a process tree and of each CPU, read from /proc.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { cpus, loadavg } from "node:os";

export const CLK_TCK = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;

/** "1", "0-1", "0,2": validated against this machine's CPUs. */
export function cpuList(spec: string, flag: string): { spec: string; ids: number[] } {
  const ids = new Set<number>();
  for (const part of spec.split(",")) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) throw new Error(`${flag} "${spec}": must be CPU numbers and ranges, e.g. 1 or 0-1 or 0,2`);
    for (let c = Number(m[1]); c <= Number(m[2] ?? m[1]); c++) ids.add(c);
  }
  const have = cpus().length;
  for (const c of ids) if (c >= have) throw new Error(`${flag} "${spec}": CPU ${c} does not exist (this machine has CPUs 0-${have - 1})`);
  return { spec, ids: [...ids].sort((a, b) => a - b) };
}

export const load = () => loadavg().map((l) => l.toFixed(2)).join(" ");
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface Started {
  name: string;
  child: ChildProcess;
  stdout: string[];
  stderr: string;
  exited: Promise<void>;
}

/** Every process started and not yet exited. */
export const started = new Set<Started>();

/** `ip netns exec NS taskset -c CPUS cmd args` (both exec: the pid is cmd's); stdout kept by line. */
export function startIn(name: string, netns: string, cpuSpec: string, cmd: string, args: string[]): Started {
  const child = spawn("ip", ["netns", "exec", netns, "taskset", "-c", cpuSpec, cmd, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  const s: Started = { name, child, stdout: [], stderr: "", exited: new Promise((r) => child.once("exit", () => r())) };
  let partial = "";
  child.stdout!.on("data", (b: Buffer) => {
    const lines = (partial + b.toString()).split("\n");
    partial = lines.pop()!;
    for (const l of lines) if (s.stdout.length < 10_000) s.stdout.push(l);
  });
  child.stderr!.on("data", (b: Buffer) => {
    if (s.stderr.length < 16_384) s.stderr += b.toString();
  });
  started.add(s);
  void s.exited.then(() => started.delete(s));
  return s;
}

/** Parent pid and CPU ticks (user, system) of a live pid, from /proc/<pid>/stat; null once it is gone. */
export function procStat(pid: number): { ppid: number; user: number; system: number } | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name may hold spaces and parentheses: the fields start after its last ')'.
    const f = text.slice(text.lastIndexOf(")") + 2).split(" ");
    return { ppid: Number(f[1]), user: Number(f[11]), system: Number(f[12]) };
  } catch {
    return null;
  }
}

/** A process and all its descendants (nginx's workers, the proxy's cluster workers). */
export function processTree(root: number): number[] {
  const parents = new Map<number, number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const st = procStat(Number(entry));
    if (st) parents.set(Number(entry), st.ppid);
  }
  const tree = [root];
  for (let i = 0; i < tree.length; i++) for (const [pid, ppid] of parents) if (ppid === tree[i]) tree.push(pid);
  return tree.filter((pid) => parents.has(pid));
}

/** User and system CPU ticks of a set of processes (all their threads). */
export function cpuTicks(pids: number[]): { user: number; system: number } {
  let user = 0;
  let system = 0;
  for (const pid of pids) {
    const st = procStat(pid);
    user += st?.user ?? 0;
    system += st?.system ?? 0;
  }
  return { user, system };
}

export const userPlusSystem = (t: { user: number; system: number }) => t.user + t.system;

/** Busy and total ticks per CPU from /proc/stat (busy = all but idle and iowait): the machine may be shared. */
export function cpuTimes(): Map<number, { busy: number; total: number }> {
  const out = new Map<number, { busy: number; total: number }>();
  for (const line of readFileSync("/proc/stat", "utf8").split("\n")) {
    const m = /^cpu(\d+) (.*)$/.exec(line);
    if (!m) continue;
    const v = m[2]!.trim().split(/\s+/).slice(0, 8).map(Number);
    const total = v.reduce((a, b) => a + b, 0);
    out.set(Number(m[1]), { busy: total - v[3]! - v[4]!, total });
  }
  return out;
}

/** Share (0–1) of the CPUs in `ids` that was busy between two cpuTimes() readings. */
export function busyShare(before: ReturnType<typeof cpuTimes>, after: ReturnType<typeof cpuTimes>, ids: number[]): number {
  let busy = 0;
  let total = 0;
  for (const id of ids) {
    busy += after.get(id)!.busy - before.get(id)!.busy;
    total += after.get(id)!.total - before.get(id)!.total;
  }
  return total > 0 ? busy / total : Number.NaN;
}

/** SIGTERM to each process tree, SIGKILL to whatever of it is left after 3 s (`quiet`: names not to report). */
export async function stopAll(list: Iterable<Started> = started, quiet: readonly string[] = []): Promise<void> {
  const all = [...list];
  const trees = all.map((s) => (s.child.pid ? processTree(s.child.pid) : []));
  for (const s of all) s.child.kill("SIGTERM");
  await Promise.race([Promise.all(all.map((s) => s.exited)), sleep(3000)]);
  for (const s of all) if (s.child.exitCode === null && s.child.signalCode === null && !quiet.includes(s.name)) console.log(`cleanup: ${s.name} (${s.child.pid}) did not exit within 3 s of SIGTERM: killed`);
  for (const pid of trees.flat()) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  await Promise.race([Promise.all(all.map((s) => s.exited)), sleep(2000)]);
}
