import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { checkNetns, validateIfName } from "@switchyard/cni";

const run = promisify(execFile);

interface IpAddrJson {
  ifname?: unknown;
  addr_info?: { family?: unknown; local?: unknown; prefixlen?: unknown; scope?: unknown }[];
}

/** The global addresses of `ip -j addr` output, as address/prefix; link-local and host scope left out (no IPAM hands them out). */
export function parseIpAddrJson(stdout: string, ifName: string): string[] {
  let links: unknown;
  try {
    links = JSON.parse(stdout);
  } catch {
    return [];
  }
  if (!Array.isArray(links)) return [];
  return (links as IpAddrJson[])
    .filter((l) => l?.ifname === ifName)
    .flatMap((l) => (Array.isArray(l.addr_info) ? l.addr_info : []))
    .filter((a) => a?.scope === "global" && (a.family === "inet" || a.family === "inet6") && typeof a.local === "string" && typeof a.prefixlen === "number")
    .map((a) => `${a.local as string}/${a.prefixlen as number}`)
    .slice(0, 64);
}

export interface NamespaceAddressOptions {
  /** Where the agent's namespaces live: the path must be directly in one (or a /proc/<pid>/ns/net). */
  netnsDirs: readonly string[];
  timeoutMs?: number;
}

/**
 * The addresses `ifName` holds inside the namespace at `netns`: `ip -j addr show dev` run in it
 * through nsenter (`ip -n` takes only names under /run/netns, the agent's namespaces may be
 * elsewhere or a /proc/<pid>/ns/net). The path is checked first (a network namespace, in the
 * agent's netns dirs), as for CNI calls. Throws with the reason when it cannot be read.
 */
export async function readNamespaceAddresses(netns: string, ifName: string, options: NamespaceAddressOptions): Promise<string[]> {
  validateIfName(ifName);
  await checkNetns(netns, { netnsDirs: options.netnsDirs });
  const { stdout } = await run("nsenter", [`--net=${netns}`, "--", "ip", "-j", "addr", "show", "dev", ifName], {
    timeout: options.timeoutMs ?? 5000,
    maxBuffer: 1024 * 1024,
  });
  return parseIpAddrJson(stdout, ifName);
}
