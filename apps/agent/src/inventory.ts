import { execFile } from "node:child_process";
import { accessSync, constants, readFileSync, readdirSync, statSync } from "node:fs";
import { hostname, networkInterfaces, release } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { type CniRuntime, loadConfDir, loadNetworkList } from "@switchyard/cni";
import { parseNetworkConfig } from "@switchyard/cni/config";
import { conflistDigest } from "@switchyard/cni/digest";
import type { Inventory } from "@switchyard/api/schemas";
import type { AgentConfig } from "./config";

/** The console's Inventory (one definition) less what the agent reports about itself rather than the host. */
export type HostInventory = Omit<Inventory, "lastSubscriptionEventAt" | "pushStream" | "lastReconcile">;

const run = promisify(execFile);

function digestOf(bytes: Uint8Array): { digest?: string } {
  const parsed = parseNetworkConfig(new TextDecoder().decode(bytes));
  return parsed.ok ? { digest: conflistDigest(parsed.conflist) } : {};
}

export interface DesiredForInventory {
  containerId: string;
  networkName: string;
  conflist: unknown;
  state: string;
}

function sysctlBool(path: string): boolean | null {
  try {
    return readFileSync(path, "utf8").trim() === "1";
  } catch {
    return null;
  }
}

function onPath(tool: string): boolean {
  for (const dir of ["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/sbin", "/usr/local/bin"]) {
    try {
      accessSync(join(dir, tool), constants.X_OK);
      return true;
    } catch {
      // next
    }
  }
  return false;
}

function plugins(cniPath: string[]) {
  const seen = new Set<string>();
  const out: { name: string; path: string; executable: boolean }[] = [];
  for (const dir of cniPath) {
    let names: string[];
    try {
      names = readdirSync(dir).sort();
    } catch {
      continue;
    }
    for (const name of names) {
      if (seen.has(name)) continue; // the first directory wins, as in plugin lookup
      const path = join(dir, name);
      let executable = false;
      try {
        const st = statSync(path);
        if (!st.isFile()) continue;
        accessSync(path, constants.X_OK);
        executable = (st.mode & 0o111) !== 0;
      } catch {
        executable = false;
      }
      seen.add(name);
      out.push({ name, path, executable });
    }
  }
  return out.slice(0, 128);
}

/** The subnets a conflist's host-local IPAM hands out (`subnet`, or every range's). */
function subnetsOf(conflist: unknown): string[] {
  const plugins = (conflist as { plugins?: { ipam?: { subnet?: unknown; ranges?: unknown } }[] } | null)?.plugins ?? [];
  return plugins.flatMap((p) => {
    const ipam = p?.ipam;
    if (!ipam) return [];
    if (typeof ipam.subnet === "string") return [ipam.subnet];
    return Array.isArray(ipam.ranges) ? ipam.ranges.flat().flatMap((r: { subnet?: unknown }) => (typeof r?.subnet === "string" ? [r.subnet] : [])) : [];
  });
}

/** Whether `ipMasq` networks' NAT rules for each attachment are present (iptables or nftables, as the plugins write them). */
async function masquerade(desired: DesiredForInventory[]) {
  const masq = desired.filter((d) => d.state === "ready" && JSON.stringify(d.conflist).includes('"ipMasq":true'));
  if (masq.length === 0) return [];
  const texts: string[] = [];
  for (const [cmd, args] of [["iptables-save", ["-t", "nat"]], ["nft", ["list", "ruleset"]]] as const) {
    try {
      texts.push((await run(cmd, [...args], { timeout: 10_000, maxBuffer: 32 * 1024 * 1024 })).stdout);
    } catch {
      // tool missing or failing: reported as absent rules
    }
  }
  const all = texts.join("\n");
  return masq.slice(0, 512).map((d) => ({ networkName: d.networkName, subnet: subnetsOf(d.conflist).join(", ").slice(0, 200), containerId: d.containerId, present: all.includes(`id: "${d.containerId}"`) || all.includes(`id: \\"${d.containerId}\\"`) }));
}

/** What the hosts page and its doctor show; every list bounded to the schema's limits. */
export async function collectInventory(config: AgentConfig, runtime: CniRuntime, desired: DesiredForInventory[], versions: Map<string, { cniVersion?: string; supportedVersions?: string[]; error?: string }>): Promise<HostInventory> {
  const addresses = Object.entries(networkInterfaces()).flatMap(([ifName, addrs]) => (addrs ?? []).map((a) => ({ ifName, address: `${a.address}/${a.cidr?.split("/")[1] ?? ""}` })));
  let namespaces: string[] = [];
  try {
    namespaces = readdirSync(config.netnsDir).sort().slice(0, 4096);
  } catch {
    namespaces = [];
  }
  let confFiles: { file: string; networkName?: string; digest?: string; error?: string }[] = [];
  try {
    const conf = await loadConfDir(config.confDir);
    confFiles = [
      // The digest of the file as the console would store it: the console compares it with its revisions (drift).
      ...conf.networks.map((n) => ({ file: n.source ?? "", networkName: n.name, ...digestOf(n.bytes) })),
      ...conf.errors.map((e) => ({ file: e.file, error: e.error.message.slice(0, 1000) })),
    ];
  } catch (error) {
    confFiles = [{ file: config.confDir, error: (error as Error).message }];
  }
  const cached = await runtime.listCachedAttachments().catch(() => []);
  const networkStatus: { networkName: string; ready: boolean; error?: string }[] = [];
  const seenNetworks = new Set<string>();
  for (const d of desired) {
    if (seenNetworks.has(d.networkName) || seenNetworks.size >= 512) continue;
    seenNetworks.add(d.networkName);
    try {
      await runtime.getStatusNetworkList(loadNetworkList(JSON.stringify(d.conflist)));
      networkStatus.push({ networkName: d.networkName, ready: true });
    } catch (error) {
      networkStatus.push({ networkName: d.networkName, ready: false, error: (error as Error).message.slice(0, 1000) });
    }
  }
  return {
    hostname: config.hostname || hostname(),
    kernel: release(),
    addresses: addresses.slice(0, 256),
    plugins: plugins(config.cniPath).map((p) => ({ ...p, ...(versions.get(p.name) ?? {}) })),
    cniPath: config.cniPath,
    netnsDir: config.netnsDir,
    namespaces,
    confDir: config.confDir,
    confFiles: confFiles.slice(0, 512),
    cacheDir: config.cacheDir,
    cachedAttachments: cached.slice(0, 4096).map(({ networkName, containerId, ifName, netns }) => ({ networkName, containerId, ifName, netns })),
    ipForward: { v4: sysctlBool("/proc/sys/net/ipv4/ip_forward"), v6: sysctlBool("/proc/sys/net/ipv6/conf/all/forwarding") },
    tools: { nft: onPath("nft"), iptables: onPath("iptables"), ip: onPath("ip") },
    masquerade: await masquerade(desired),
    networkStatus,
  };
}

/** VERSION of every plugin found (spawns each once; refreshed rarely). */
export async function pluginVersions(config: AgentConfig, runtime: CniRuntime) {
  const out = new Map<string, { cniVersion?: string; supportedVersions?: string[]; error?: string }>();
  for (const p of plugins(config.cniPath)) {
    if (!p.executable) continue;
    try {
      const v = await runtime.getVersionInfo(p.name);
      out.set(p.name, { cniVersion: v.cniVersion, supportedVersions: v.supportedVersions.slice(0, 32) });
    } catch (error) {
      out.set(p.name, { error: (error as Error).message.slice(0, 1000) });
    }
  }
  return out;
}
