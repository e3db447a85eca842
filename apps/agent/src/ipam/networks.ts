import { resolve, sep } from "node:path";
import { type NetworkConfigList, loadConfDir, loadNetworkList } from "@switchyard/cni";
import { DEFAULT_HOST_LOCAL_DATA_DIR, type NormalisedRange, normaliseIpamRanges } from "@switchyard/ipam";
import type { IpamFinding } from "@switchyard/api/schemas/ipam";

/** A network the agent knows: from the console's configs, the host's conf dir, or both (the console's config wins). */
export interface KnownNetwork {
  name: string;
  knownFrom: ("console" | "confDir")[];
  net: NetworkConfigList;
}

/** The networks of the console's configs and of the conf dir, by name; an unreadable conf dir adds none. */
export async function collectKnownNetworks(consoleNetworks: readonly NetworkConfigList[], confDir: string | undefined): Promise<KnownNetwork[]> {
  const byName = new Map<string, KnownNetwork>();
  for (const net of consoleNetworks) byName.set(net.name, { name: net.name, knownFrom: ["console"], net });
  if (confDir) {
    const conf = await loadConfDir(confDir).catch(() => ({ networks: [] as NetworkConfigList[] }));
    for (const net of conf.networks) {
      const known = byName.get(net.name);
      if (known) known.knownFrom = ["console", "confDir"];
      else byName.set(net.name, { name: net.name, knownFrom: ["confDir"], net });
    }
  }
  return [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export interface NetworkIpam {
  ipamType: string;
  dataDir: { source: "config" | "default" | "none"; path: string };
  ranges: NormalisedRange[];
  findings: IpamFinding[];
  /** Whether the lease directory may be read (host-local, and a data dir inside the allowed roots). */
  readable: boolean;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Whether `path` is one of `roots` or inside one (both resolved; links are the reader's business). */
export function isInsideRoots(path: string, roots: readonly string[]): boolean {
  const p = resolve(path);
  return roots.some((root) => {
    const r = resolve(root);
    return p === r || p.startsWith(r.endsWith(sep) ? r : r + sep);
  });
}

/**
 * The IPAM of a network's first plugin that has one (the main plugin; chained ones carry none):
 * its type, where host-local keeps its leases, and its ranges normalised. A dataDir outside
 * `allowedRoots` is not read (HARDENING 5: a user-supplied dataDir must not make the agent read
 * elsewhere) and is reported.
 */
export function describeNetworkIpam(net: NetworkConfigList, allowedRoots: readonly string[]): NetworkIpam {
  const ipam = net.plugins.map((p) => p.config.ipam).find(isObject);
  const ipamType = typeof ipam?.type === "string" ? ipam.type.slice(0, 64) : "";
  if (!ipam || ipamType !== "host-local") {
    return { ipamType, dataDir: { source: "none", path: "" }, ranges: [], findings: [], readable: false };
  }
  const normalised = normaliseIpamRanges(ipam);
  const findings: IpamFinding[] = normalised.issues.slice(0, 50).map((issue) => ({ kind: "ipam-config", file: issue.path.slice(0, 300), reason: issue.message.slice(0, 1000) }));
  const path = normalised.dataDir ?? DEFAULT_HOST_LOCAL_DATA_DIR;
  const dataDir = { source: normalised.dataDir ? ("config" as const) : ("default" as const), path: path.slice(0, 1024) };
  let readable = true;
  if (!isInsideRoots(path, allowedRoots)) {
    readable = false;
    findings.push({ kind: "data-dir-not-allowed", file: path.slice(0, 300), reason: `dataDir "${path.slice(0, 200)}" is outside the directories the agent reads (${allowedRoots.join(", ")}): not read` });
  }
  return { ipamType, dataDir, ranges: normalised.rangeSets.flat().slice(0, 256), findings, readable };
}

/**
 * The console's configs that load, each as `pick` chooses (the config as the host runs it, or the
 * network's whole ranges); one that does not load is left out and handed to `onError`.
 */
export function loadConsoleConfigs<C extends { networkName: string; conflist: Record<string, unknown> }>(
  configs: readonly C[],
  pick: (c: C) => Record<string, unknown>,
  onError: (networkName: string, error: Error) => void = () => {},
): NetworkConfigList[] {
  return configs.flatMap((c) => {
    try {
      return [loadNetworkList(JSON.stringify(pick(c)))];
    } catch (error) {
      onError(c.networkName, error as Error);
      return [];
    }
  });
}

/**
 * One network as this host knows it now: the console's current config as rendered for this host
 * (its blocks), else the conf dir's. A console config that does not load counts as unknown.
 */
export async function findKnownNetwork(
  name: string,
  currentConfigs: (names: string[]) => Promise<{ networkName: string; conflist: Record<string, unknown> }[]>,
  confDir: string | undefined,
): Promise<KnownNetwork | undefined> {
  const consoleNetworks = loadConsoleConfigs(await currentConfigs([name]), (c) => c.conflist);
  return (await collectKnownNetworks(consoleNetworks, confDir)).find((n) => n.name === name);
}
