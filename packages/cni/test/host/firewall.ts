import { run } from "./exec";

/** Chains the plugins create once per host and never delete by design (shared by every attachment). */
export const SHARED_CHAINS = new Set([
  "CNI-HOSTPORT-DNAT",
  "CNI-HOSTPORT-SETMARK",
  "CNI-HOSTPORT-MASQ",
  "CNI-FORWARD",
  "CNI-ADMIN",
  "CNI-ISOLATION-STAGE-1",
  "CNI-ISOLATION-STAGE-2",
]);

export interface IptablesState {
  /** "v4 nat -A POSTROUTING …" per rule, both families, counters dropped. */
  rules: string[];
  /** "v4 nat CNI-…" per user chain. */
  chains: string[];
}

async function saveFamily(family: "v4" | "v6"): Promise<IptablesState> {
  const cmd = family === "v4" ? "iptables-save" : "ip6tables-save";
  const { stdout } = await run(cmd, [], { check: false });
  const rules: string[] = [];
  const chains: string[] = [];
  let table = "";
  for (const line of stdout.split("\n")) {
    if (line.startsWith("*")) table = line.slice(1).trim();
    else if (line.startsWith(":")) chains.push(`${family} ${table} ${line.slice(1).split(" ")[0]}`);
    else if (line.startsWith("-A ")) rules.push(`${family} ${table} ${line}`);
  }
  return { rules, chains };
}

export async function readIptables(): Promise<IptablesState> {
  const [v4, v6] = await Promise.all([saveFamily("v4"), saveFamily("v6")]);
  return { rules: [...v4.rules, ...v6.rules], chains: [...v4.chains, ...v6.chains] };
}

export interface NftState {
  /** "family table chain" per chain. */
  chains: string[];
  /** One JSON string per rule (handle removed), prefixed by "family table chain ". */
  rules: string[];
}

export async function readNft(): Promise<NftState> {
  const { stdout, code } = await run("nft", ["-j", "list", "ruleset"], { check: false });
  if (code !== 0 || !stdout.trim()) return { chains: [], rules: [] };
  const parsed = JSON.parse(stdout) as { nftables: Record<string, Record<string, unknown>>[] };
  const chains: string[] = [];
  const rules: string[] = [];
  for (const item of parsed.nftables) {
    if (item.chain) {
      const c = item.chain as { family: string; table: string; name: string };
      chains.push(`${c.family} ${c.table} ${c.name}`);
    } else if (item.rule) {
      const { handle: _handle, ...r } = item.rule as { family: string; table: string; chain: string; handle?: number };
      rules.push(`${r.family} ${r.table} ${r.chain} ${JSON.stringify(r)}`);
    }
  }
  return { chains, rules };
}

/** The chain a rule jumps/goes to, when there is one (iptables-save syntax). */
export function jumpTarget(rule: string): string | undefined {
  return /\s-[jg] (CNI-[\w-]+)/.exec(rule)?.[1];
}

/** Lines containing any of the tokens (network name, container id, addresses, chain names). */
export function mentioning(lines: readonly string[], tokens: readonly string[]): string[] {
  const live = tokens.filter((t) => t.length > 0);
  return lines.filter((line) => live.some((t) => line.includes(t)));
}
