/**
 * The host as the fault run looks at it and leaves it: the run's namespaces, veths, the bridge's
 * masquerade rules (iptables nat), and the cleanup of all of them whatever state a run ends in.
 */
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { attachmentHashNames, deleteBridge, run, splitIptablesRule } from "@switchyard/cni/test-host";
import { wrapperProcesses } from "./plugin-recorder";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface RawLink {
  ifname: string;
  ifindex: number;
  link_index?: number;
  master?: string;
  linkinfo?: { info_kind?: string };
  addr_info?: { family: string; local: string; prefixlen: number; scope?: string }[];
}

export async function ipJson(args: string[]): Promise<RawLink[]> {
  const { stdout, code } = await run("ip", args, { check: false });
  if (code !== 0 || !stdout.trim()) return [];
  return JSON.parse(stdout) as RawLink[];
}

export async function namespacesWithPrefix(prefix: string): Promise<string[]> {
  const { stdout } = await run("ip", ["-j", "netns", "list"], { check: false });
  if (!stdout.trim()) return [];
  return (JSON.parse(stdout) as { name: string }[]).map((n) => n.name).filter((n) => n.startsWith(prefix));
}

export function filesIn(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}

export interface NatRules {
  /** Chain names declared in the nat table. */
  chains: Set<string>;
  /** "-A …" lines of the nat table. */
  rules: string[];
}

export async function readNatRules(): Promise<NatRules> {
  const { stdout } = await run("iptables-save", ["-t", "nat"], { check: false });
  const chains = new Set<string>();
  const rules: string[] = [];
  for (const line of stdout.split("\n")) {
    if (line.startsWith(":")) chains.add(line.slice(1).split(" ")[0]!);
    else if (line.startsWith("-A ")) rules.push(line);
  }
  return { chains, rules };
}

/** The container id a bridge masquerade rule's comment names (`name: "<net>" id: "<id>"`), for our network. */
export function ruleContainerId(rule: string, network: string): string | undefined {
  if (!rule.includes(`name: \\"${network}\\"`)) return undefined;
  return /id: \\"([^\\"]+)\\"/.exec(rule)?.[1] ?? "(unreadable id)";
}

/** A process and its children: their threads' kernel state and, through gdb when it is there, their stacks. */
export async function captureProcessTree(pid: number, file: string): Promise<void> {
  const children = readdirSync("/proc").filter((e) => /^\d+$/.test(e)).filter((e) => {
    try {
      const stat = readFileSync(`/proc/${e}/stat`, "utf8");
      return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === pid;
    } catch {
      return false;
    }
  });
  let text = "";
  for (const p of [String(pid), ...children]) {
    text += `== pid ${p}: ${readFileSync(`/proc/${p}/cmdline`, "utf8").replaceAll("\0", " ")}\n`;
    for (const tid of filesIn(`/proc/${p}/task`)) {
      const read = (f: string) => {
        try {
          return readFileSync(`/proc/${p}/task/${tid}/${f}`, "utf8").trim();
        } catch {
          return "?";
        }
      };
      text += `  ${tid} ${read("comm")} wchan=${read("wchan")} syscall=${read("syscall").split(" ")[0]}\n`;
    }
    const gdb = await run("gdb", ["-p", p, "-batch", "-ex", "thread apply all bt 20"], { check: false, timeoutMs: 30_000 }).catch(() => undefined);
    if (gdb) text += `${gdb.stdout}\n`;
  }
  writeFileSync(file, text);
}

/**
 * Everything the run put on the host, whatever state it is in: plugins still running are waited for
 * (then killed), the namespaces (their veths go with them), the bridge, the masquerade rules and
 * chains of our network.
 */
export async function cleanHost(o: { root: string; prefix: string; network: string; bridge: string; pluginDir: string; containerIds: Set<string> }): Promise<void> {
  for (let i = 0; i < 250 && wrapperProcesses(o.pluginDir).length > 0; i++) await sleep(100);
  for (const pid of wrapperProcesses(o.pluginDir)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone
    }
  }
  for (const ns of await namespacesWithPrefix(o.prefix)) await run("ip", ["netns", "del", ns], { check: false });
  await deleteBridge(o.bridge);
  const chains = new Set([...o.containerIds].map((cid) => attachmentHashNames(o.network, cid).chains[0]!));
  const nat = await readNatRules();
  for (const rule of nat.rules) {
    const inChain = chains.has(rule.split(" ")[1] ?? "");
    const jumps = chains.has(/\s-j (CNI-[\w-]+)/.exec(rule)?.[1] ?? "");
    if (!inChain && (jumps || ruleContainerId(rule, o.network) !== undefined)) {
      const argv = splitIptablesRule(rule);
      argv[0] = "-D";
      await run("iptables", ["-t", "nat", ...argv], { check: false });
    }
  }
  for (const chain of nat.chains) {
    if (!chains.has(chain)) continue;
    await run("iptables", ["-t", "nat", "-F", chain], { check: false });
    await run("iptables", ["-t", "nat", "-X", chain], { check: false });
  }
}
