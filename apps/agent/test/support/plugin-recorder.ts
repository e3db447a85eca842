/**
 * The real CNI plugins behind a recorder (the fault run, issue 15 §6): `<dir>/bridge` and
 * `<dir>/host-local` are small bash wrappers that log each call (start, pid, command, container
 * id, ifname; then the exit status) and run Debian's binary with the same stdin, stdout and exit
 * status. The log is how an ADD applied twice is found, whoever ran it (the agent, a killed
 * agent's plugin still running, reconcile).
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const PLUGIN_DIRS = ["/opt/cni/bin", "/usr/lib/cni"];

/** `<dir>/bridge` and `<dir>/host-local`: bash that logs each call to `callLog` and runs the real plugin. */
export function installRecordingPlugins(dir: string, callLog: string): void {
  mkdirSync(dir, { recursive: true });
  for (const plugin of ["bridge", "host-local"]) {
    const real = PLUGIN_DIRS.map((d) => join(d, plugin)).find((p) => existsSync(p));
    if (!real) throw new Error(`plugin ${plugin} not found in ${PLUGIN_DIRS.join(", ")}: install Debian's containernetworking-plugins`);
    // EPOCHREALTIME: a bash builtin (no fork); the plugins' environment is the runtime's allow-list.
    writeFileSync(
      join(dir, plugin),
      [
        "#!/bin/bash",
        `# Fault run: records this call of the real ${plugin}, then runs it (stdin, stdout and the exit status pass through).`,
        `printf 'S %s %s ${plugin} %s %s %s\\n' "$EPOCHREALTIME" "$$" "$CNI_COMMAND" "$CNI_CONTAINERID" "$CNI_IFNAME" >> ${JSON.stringify(callLog)}`,
        `${JSON.stringify(real)} "$@"`,
        "rc=$?",
        `printf 'E %s %s %s\\n' "$EPOCHREALTIME" "$$" "$rc" >> ${JSON.stringify(callLog)}`,
        "exit $rc",
        "",
      ].join("\n"),
    );
    chmodSync(join(dir, plugin), 0o755);
  }
}

export interface PluginCall {
  plugin: string;
  command: string;
  containerId: string;
  ifName: string;
  pid: number;
  start: number;
  end?: number;
  rc?: number;
}

/** The recorded plugin calls (ADD, DEL, CHECK; VERSION and the like left out), in start order. */
export function readPluginCalls(text: string): PluginCall[] {
  const calls = new Map<number, PluginCall>();
  const ordered: PluginCall[] = [];
  for (const line of text.split("\n")) {
    const f = line.split(" ");
    if (f[0] === "S" && f.length >= 7) {
      const call: PluginCall = { start: Number(f[1]), pid: Number(f[2]), plugin: f[3]!, command: f[4]!, containerId: f[5]!, ifName: f[6]! };
      calls.set(call.pid, call);
      if (["ADD", "DEL", "CHECK"].includes(call.command)) ordered.push(call);
    } else if (f[0] === "E" && f.length >= 4) {
      const call = calls.get(Number(f[2]));
      if (call && call.end === undefined) {
        call.end = Number(f[1]);
        call.rc = Number(f[3]);
      }
    }
  }
  return ordered.sort((a, b) => a.start - b.start);
}

const describeCall = (c: PluginCall) => `${c.plugin} ${c.command} pid ${c.pid} at ${c.start.toFixed(3)} (${c.end === undefined ? "no exit recorded" : `exit ${c.rc} after ${((c.end - c.start) * 1000).toFixed(0)} ms`})`;

/**
 * "Applied twice": a plugin ADD of an attachment with no DEL of it since its previous ADD. The agent
 * never ADDs over state it may have made (a retry, an interrupted operation and a re-delivered one
 * all DEL first); host-local would refuse the second address, and bridge would add a second
 * masquerade rule. Also returns runs of one plugin on one attachment that overlapped in time.
 */
export function findDoubleApplies(calls: PluginCall[]): { doubleApplies: string[]; overlapping: string[] } {
  const doubleApplies: string[] = [];
  const overlapping: string[] = [];
  const byKey = new Map<string, PluginCall[]>();
  for (const c of calls) {
    const key = `${c.plugin} ${c.containerId}/${c.ifName}`;
    byKey.set(key, [...(byKey.get(key) ?? []), c]);
  }
  for (const [key, list] of byKey) {
    let lastAdd: PluginCall | undefined;
    for (const c of list) {
      if (c.command === "ADD") {
        if (lastAdd) doubleApplies.push(`${key}: ADD again with no DEL since the previous one: ${describeCall(lastAdd)}, then ${describeCall(c)}`);
        lastAdd = c;
      } else if (c.command === "DEL") {
        lastAdd = undefined;
      }
    }
    for (let i = 1; i < list.length; i++) {
      const prev = list[i - 1]!;
      const c = list[i]!;
      if (prev.end === undefined || prev.end > c.start) overlapping.push(`${key}: ${describeCall(prev)} still running when ${describeCall(c)} started`);
    }
  }
  return { doubleApplies, overlapping };
}

/** Pids of processes running one of our plugin wrappers (a killed agent's plugins finish on their own). */
export function wrapperProcesses(pluginDir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, "utf8").includes(pluginDir)) pids.push(Number(entry));
    } catch {
      // gone
    }
  }
  return pids;
}
