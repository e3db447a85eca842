import { lookup } from "node:dns/promises";
import { BlockList, isIP } from "node:net";
import { networkInterfaces } from "node:os";

/**
 * Where a webhook may be delivered (issue 13 §5, bad input: "a webhook URL pointing at the console
 * itself or a link-local address"). Checked when a webhook is created or its URL changes, and again
 * at every delivery on the addresses the name resolves to then; the delivery connects to the very
 * address checked here, so a name re-pointed in between (DNS rebinding) gains nothing.
 *
 * Refused unless the webhook's admin-set `allowLocal` is on: loopback, link-local (cloud metadata
 * endpoints live there), unspecified addresses, and the console's own address and port (or its
 * public URL's host). Always refused: multicast and broadcast (not a unicast destination), and
 * schemes other than http and https. Private ranges (10/8, 172.16/12, 192.168/16, fc00::/7) are
 * allowed: that is where a team's receivers usually are.
 */

export interface DestinationPolicy {
  /** The webhook's admin-set flag. */
  allowLocal: boolean;
  /** The ports the console listens on (PORT): with one of this machine's addresses, the console itself. */
  ownPorts: readonly number[];
  /** SWITCHYARD_PUBLIC_URL: a URL with its host (and port) is the console itself, whatever it resolves to. */
  publicUrl?: string | undefined;
}

export interface CheckedDestination {
  url: URL;
  /** The host as the request names it (Host header, TLS server name). */
  hostname: string;
  port: number;
  /** The address to connect to: checked, never looked up again. */
  address: string;
  family: 4 | 6;
}

export type DestinationRefusal = "scheme" | "unresolvable" | "not-unicast" | "unspecified" | "loopback" | "link-local" | "console";

export class DestinationError extends Error {
  readonly reason: DestinationRefusal;
  constructor(reason: DestinationRefusal, message: string) {
    super(message);
    this.name = "DestinationError";
    this.reason = reason;
  }
}

function blockList(entries: [string, number, "ipv4" | "ipv6"][]): BlockList {
  const list = new BlockList();
  for (const [net, prefix, type] of entries) list.addSubnet(net, prefix, type);
  return list;
}

// BlockList matches IPv4-mapped IPv6 addresses (::ffff:127.0.0.1) against the IPv4 subnets too.
const CLASSES: { reason: Exclude<DestinationRefusal, "scheme" | "unresolvable" | "console">; list: BlockList; words: string; always: boolean }[] = [
  { reason: "not-unicast", list: blockList([["224.0.0.0", 4, "ipv4"], ["255.255.255.255", 32, "ipv4"], ["ff00::", 8, "ipv6"]]), words: "a multicast or broadcast address", always: true },
  { reason: "unspecified", list: blockList([["0.0.0.0", 8, "ipv4"], ["::", 128, "ipv6"]]), words: "an unspecified address (this host)", always: false },
  { reason: "loopback", list: blockList([["127.0.0.0", 8, "ipv4"], ["::1", 128, "ipv6"]]), words: "a loopback address", always: false },
  { reason: "link-local", list: blockList([["169.254.0.0", 16, "ipv4"], ["fe80::", 10, "ipv6"]]), words: "a link-local address (169.254.0.0/16, fe80::/10: cloud metadata endpoints live there)", always: false },
];

const ALLOW_HINT = "an admin may allow local destinations for this webhook";

const defaultPort = (url: URL) => (url.port ? Number(url.port) : url.protocol === "https:" ? 443 : 80);
const bare = (hostname: string) => hostname.replace(/^\[|\]$/g, "").toLowerCase();

/** This machine's own addresses (every interface), for "the console's own address". */
function ownAddresses(): Set<string> {
  const out = new Set<string>();
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) out.add(a.address.toLowerCase());
  return out;
}

/** Why one resolved address is refused for this policy, or null. */
export function refusalOf(address: string, port: number, policy: DestinationPolicy): { reason: DestinationRefusal; words: string } | null {
  const type = isIP(address) === 6 ? "ipv6" : "ipv4";
  for (const c of CLASSES) {
    if ((c.always || !policy.allowLocal) && c.list.check(address, type)) return { reason: c.reason, words: c.words };
  }
  if (!policy.allowLocal && policy.ownPorts.includes(port) && ownAddresses().has(address.toLowerCase())) {
    return { reason: "console", words: `this machine's own address on the console's port ${port} (the console itself)` };
  }
  return null;
}

/**
 * Parses and checks a webhook URL, resolving its name and checking every address it resolves to.
 * `resolve: false` (creation, when the name does not resolve yet) checks literals and names only.
 */
export async function checkDestination(raw: string, policy: DestinationPolicy, opts: { requireResolved?: boolean } = {}): Promise<CheckedDestination | null> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new DestinationError("scheme", `webhook URL "${raw.slice(0, 200)}" is not an absolute URL: give one like https://hooks.example.com/switchyard`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new DestinationError("scheme", `webhook URL scheme "${url.protocol}" is refused: only http:// and https:// are delivered to`);
  }
  const hostname = bare(url.hostname);
  const port = defaultPort(url);
  if (!policy.allowLocal && policy.publicUrl && URL.canParse(policy.publicUrl)) {
    const own = new URL(policy.publicUrl);
    if (bare(own.hostname) === hostname && defaultPort(own) === port) {
      throw new DestinationError("console", `webhook URL ${url.origin} points at the console itself (SWITCHYARD_PUBLIC_URL ${own.origin}): refused; ${ALLOW_HINT}`);
    }
  }
  if (!policy.allowLocal && (hostname === "localhost" || hostname.endsWith(".localhost"))) {
    throw new DestinationError("loopback", `webhook URL host "${hostname}" is loopback: refused; ${ALLOW_HINT}`);
  }
  let addresses: { address: string; family: number }[];
  if (isIP(hostname)) addresses = [{ address: hostname, family: isIP(hostname) }];
  else {
    try {
      addresses = await lookup(hostname, { all: true, verbatim: true });
    } catch (err) {
      if (opts.requireResolved === false) return null;
      throw new DestinationError("unresolvable", `webhook host "${hostname}" does not resolve (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
    if (addresses.length === 0) throw new DestinationError("unresolvable", `webhook host "${hostname}" resolves to no address`);
  }
  // Every address is checked, not only the first: a name may mix a public address with 127.0.0.1.
  for (const a of addresses) {
    const refusal = refusalOf(a.address, port, policy);
    if (refusal) {
      const via = a.address === hostname ? "" : ` (${hostname} resolves to ${a.address})`;
      throw new DestinationError(refusal.reason, `webhook URL ${url.origin} is ${refusal.words}${via}: refused${refusal.reason === "not-unicast" ? "" : `; ${ALLOW_HINT}`}`);
    }
  }
  const first = addresses[0]!;
  return { url, hostname, port, address: first.address, family: first.family === 6 ? 6 : 4 };
}
