import { createHash } from "node:crypto";
import { run } from "./exec";
import { deleteLink } from "./links";
import { SHARED_CHAINS } from "./firewall";
import { WATCHED_SYSCTLS } from "./snapshot";
import { readSysctl, writeSysctl } from "./links";

/** Undo steps registered as a test creates things, run in reverse order even when the test failed. */
export function createCleanup(): { add(step: () => Promise<unknown>): void; run(): Promise<void> } {
  let steps: (() => Promise<unknown>)[] = [];
  return {
    add(step) {
      steps.push(step);
    },
    async run() {
      const todo = steps.reverse();
      steps = [];
      for (const step of todo) {
        try {
          await step();
        } catch (err) {
          console.error("cleanup step failed:", err);
        }
      }
    },
  };
}

/** The watched sysctls as they are now, and a function that puts them back (the bridge plugin flips forwarding). */
export async function saveSysctls(): Promise<() => Promise<void>> {
  const saved = await Promise.all(WATCHED_SYSCTLS.map(async (k) => [k, await readSysctl(k)] as const));
  return async () => {
    for (const [key, value] of saved) {
      if (value !== null && (await readSysctl(key)) !== value) await writeSysctl(key, value);
    }
  };
}

/** The bridge device the bridge plugin creates and, by design, never deletes. */
export async function deleteBridge(name: string): Promise<void> {
  await deleteLink(name);
}

/**
 * portmap and firewall create host-wide chains (and jumps to them from the built-in chains) once and
 * keep them. Remove them if they did not exist when `present` was taken, so a test run leaves the
 * host's firewall as it found it.
 */
export async function removeSharedChainsCreatedSince(present: ReadonlySet<string>): Promise<void> {
  for (const [save, cmd] of [
    ["iptables-save", "iptables"],
    ["ip6tables-save", "ip6tables"],
  ] as const) {
    const { stdout } = await run(save, [], { check: false });
    let table = "";
    const jumps: { table: string; rule: string }[] = [];
    const chains: { table: string; chain: string }[] = [];
    for (const line of stdout.split("\n")) {
      if (line.startsWith("*")) table = line.slice(1).trim();
      else if (line.startsWith(":")) {
        const chain = line.slice(1).split(" ")[0] ?? "";
        if (SHARED_CHAINS.has(chain) && !present.has(`${cmd} ${table} ${chain}`)) chains.push({ table, chain });
      } else if (line.startsWith("-A ")) {
        const target = /\s-[jg] (CNI-[\w-]+)/.exec(line)?.[1];
        const chain = line.split(" ")[1] ?? "";
        if (target && SHARED_CHAINS.has(target) && !present.has(`${cmd} ${table} ${target}`) && !SHARED_CHAINS.has(chain)) {
          jumps.push({ table, rule: line });
        }
      }
    }
    for (const { table: t, rule } of jumps) {
      // `-A CHAIN args…` → `-D CHAIN args…`; argv split honouring the quotes iptables-save emits.
      const argv = splitIptablesRule(rule);
      argv[0] = "-D";
      await run(cmd, ["-t", t, ...argv], { check: false });
    }
    for (const { table: t, chain } of chains) await run(cmd, ["-t", t, "-F", chain], { check: false });
    for (const { table: t, chain } of chains) await run(cmd, ["-t", t, "-X", chain], { check: false });
  }
}

/** Shared chains present now, as "iptables|ip6tables table chain". */
export async function sharedChainsPresent(): Promise<Set<string>> {
  const present = new Set<string>();
  for (const [save, cmd] of [
    ["iptables-save", "iptables"],
    ["ip6tables-save", "ip6tables"],
  ] as const) {
    const { stdout } = await run(save, [], { check: false });
    let table = "";
    for (const line of stdout.split("\n")) {
      if (line.startsWith("*")) table = line.slice(1).trim();
      else if (line.startsWith(":")) {
        const chain = line.slice(1).split(" ")[0] ?? "";
        if (SHARED_CHAINS.has(chain)) present.add(`${cmd} ${table} ${chain}`);
      }
    }
  }
  return present;
}

export function splitIptablesRule(rule: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quoted = false;
  let has = false;
  for (let i = 0; i < rule.length; i++) {
    const ch = rule[i]!;
    if (quoted) {
      if (ch === "\\" && i + 1 < rule.length) cur += rule[++i];
      else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') {
      quoted = true;
      has = true;
    } else if (ch === " ") {
      if (has || cur) out.push(cur);
      cur = "";
      has = false;
    } else {
      cur += ch;
      has = true;
    }
  }
  if (has || cur) out.push(cur);
  return out;
}

/** nft tables present now, as "family name". */
export async function nftTablesPresent(): Promise<Set<string>> {
  const { stdout } = await run("nft", ["-j", "list", "tables"], { check: false });
  const parsed = stdout.trim() ? (JSON.parse(stdout) as { nftables: { table?: { family: string; name: string } }[] }) : { nftables: [] };
  return new Set(parsed.nftables.flatMap((i) => (i.table ? [`${i.table.family} ${i.table.name}`] : [])));
}

/**
 * iptables-nft creates the ip/ip6 filter and nat tables on first use. Delete those that did not
 * exist in `present` and hold no rule any more, so the host's ruleset ends as it began.
 */
export async function removeEmptyNftTablesCreatedSince(present: ReadonlySet<string>): Promise<void> {
  for (const table of await nftTablesPresent()) {
    if (present.has(table)) continue;
    const [family = "", name = ""] = table.split(" ");
    if (!["ip", "ip6"].includes(family) || !["filter", "nat", "mangle"].includes(name)) continue;
    const { stdout } = await run("nft", ["-j", "list", "table", family, name], { check: false });
    if (stdout.includes('"rule"')) continue;
    await run("nft", ["delete", "table", family, name], { check: false });
  }
}

/** Names the plugins derive from sha512(network + containerId): per-attachment chains and bandwidth's ifb. */
export function attachmentHashNames(network: string, containerId: string): { chains: string[]; ifb: string } {
  const h = createHash("sha512").update(network + containerId).digest("hex");
  return { chains: [`CNI-${h.slice(0, 24)}`, `CNI-DN-${h.slice(0, 21)}`], ifb: `bwp${h.slice(0, 12)}` };
}

/**
 * Last-resort removal of what an attachment's plugins put on the host, for a test that failed before
 * its DEL: rules mentioning the network name, the container id or one of `extraTokens` (addresses),
 * rules jumping to its chains, the chains themselves, and bandwidth's ifb device.
 */
export async function purgeAttachmentLeftovers(network: string, containerId: string, extraTokens: readonly string[] = []): Promise<void> {
  const { chains, ifb } = attachmentHashNames(network, containerId);
  const tokens = [network, containerId, ...extraTokens].filter(Boolean);
  for (const [save, cmd] of [
    ["iptables-save", "iptables"],
    ["ip6tables-save", "ip6tables"],
  ] as const) {
    const { stdout } = await run(save, [], { check: false });
    let table = "";
    const existing: { table: string; chain: string }[] = [];
    const doomed: { table: string; rule: string }[] = [];
    for (const line of stdout.split("\n")) {
      if (line.startsWith("*")) table = line.slice(1).trim();
      else if (line.startsWith(":")) {
        const chain = line.slice(1).split(" ")[0] ?? "";
        if (chains.includes(chain)) existing.push({ table, chain });
      } else if (line.startsWith("-A ")) {
        const inOwnChain = chains.includes(line.split(" ")[1] ?? "");
        const target = /\s-[jg] (CNI-[\w-]+)/.exec(line)?.[1];
        if (!inOwnChain && ((target && chains.includes(target)) || tokens.some((t) => line.includes(t)))) doomed.push({ table, rule: line });
      }
    }
    for (const { table: t, rule } of doomed) {
      const argv = splitIptablesRule(rule);
      argv[0] = "-D";
      await run(cmd, ["-t", t, ...argv], { check: false });
    }
    for (const { table: t, chain } of existing) await run(cmd, ["-t", t, "-F", chain], { check: false });
    for (const { table: t, chain } of existing) await run(cmd, ["-t", t, "-X", chain], { check: false });
  }
  await run("ip", ["link", "del", ifb], { check: false });
}
