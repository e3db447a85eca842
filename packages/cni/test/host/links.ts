import { readFile } from "node:fs/promises";
import { run } from "./exec";

export interface AddrInfo {
  family: "inet" | "inet6";
  local: string;
  prefixlen: number;
  scope?: string;
}
export interface LinkAddrs {
  ifname: string;
  ifindex: number;
  address?: string;
  operstate?: string;
  addrs: AddrInfo[];
}
export interface LinkInfo {
  ifname: string;
  ifindex: number;
  kind?: string;
  master?: string;
  address?: string;
  /** UP, LOWER_UP, LOOPBACK, … */
  flags: string[];
}

const nsArgs = (netns?: string): string[] => (netns ? ["-n", netns] : []);

/** `ip [-n NS] -j addr`, parsed. */
export async function getAddrs(netns?: string): Promise<LinkAddrs[]> {
  const { stdout } = await run("ip", [...nsArgs(netns), "-j", "addr"]);
  const raw = JSON.parse(stdout || "[]") as {
    ifname: string;
    ifindex: number;
    address?: string;
    operstate?: string;
    addr_info?: { family: string; local: string; prefixlen: number; scope?: string }[];
  }[];
  return raw.map((l) => ({
    ifname: l.ifname,
    ifindex: l.ifindex,
    address: l.address,
    operstate: l.operstate,
    addrs: (l.addr_info ?? [])
      .filter((a) => a.family === "inet" || a.family === "inet6")
      .map((a) => ({ family: a.family as "inet" | "inet6", local: a.local, prefixlen: a.prefixlen, scope: a.scope })),
  }));
}

/** Global addresses on `ifname` inside `netns`, as "ip/prefix" strings. */
export async function getGlobalAddrs(netns: string, ifname: string): Promise<string[]> {
  const links = await getAddrs(netns);
  const link = links.find((l) => l.ifname === ifname);
  if (!link) return [];
  return link.addrs.filter((a) => a.scope === "global").map((a) => `${a.local}/${a.prefixlen}`);
}

/** `ip [-n NS] -j -d link`, with the link kind (veth, bridge, dummy, macvlan, …). */
export async function listLinks(netns?: string): Promise<LinkInfo[]> {
  const { stdout } = await run("ip", [...nsArgs(netns), "-j", "-d", "link"]);
  const raw = JSON.parse(stdout || "[]") as {
    ifname: string;
    ifindex: number;
    master?: string;
    address?: string;
    flags?: string[];
    linkinfo?: { info_kind?: string };
  }[];
  return raw.map((l) => ({
    ifname: l.ifname,
    ifindex: l.ifindex,
    kind: l.linkinfo?.info_kind,
    master: l.master,
    address: l.address,
    flags: l.flags ?? [],
  }));
}

export async function listVeths(netns?: string): Promise<LinkInfo[]> {
  return (await listLinks(netns)).filter((l) => l.kind === "veth");
}

/** Host-side veths enslaved to `bridge`. */
export async function listBridgePorts(bridge: string): Promise<LinkInfo[]> {
  return (await listLinks()).filter((l) => l.master === bridge);
}

function assertTestLinkName(name: string): void {
  if (!/^sy[a-z0-9]{1,13}$/.test(name)) throw new Error(`link name "${name}" is not a test link (sy + up to 13 [a-z0-9])`);
}

/** A dummy link named sy…, on the host or inside a test namespace, up (a macvlan/ipvlan master). */
export async function createDummy(name: string, netns?: string): Promise<void> {
  assertTestLinkName(name);
  await run("ip", [...nsArgs(netns), "link", "add", name, "type", "dummy"]);
  await run("ip", [...nsArgs(netns), "link", "set", name, "up"]);
}

/**
 * A master link for macvlan/ipvlan: a dummy, or where the kernel has no dummy driver (some
 * container hosts), one end of a veth pair `<name>`/`<name>p`. Deleting `<name>` removes either.
 */
export async function createMasterLink(name: string, netns?: string): Promise<"dummy" | "veth"> {
  assertTestLinkName(name);
  const dummy = await run("ip", [...nsArgs(netns), "link", "add", name, "type", "dummy"], { check: false });
  let kind: "dummy" | "veth" = "dummy";
  if (dummy.code !== 0) {
    if (!/Unknown device type/i.test(dummy.stderr)) throw new Error(`ip link add ${name} type dummy: ${dummy.stderr.trim()}`);
    await run("ip", [...nsArgs(netns), "link", "add", name, "type", "veth", "peer", "name", `${name}p`]);
    await run("ip", [...nsArgs(netns), "link", "set", `${name}p`, "up"]);
    kind = "veth";
  }
  await run("ip", [...nsArgs(netns), "link", "set", name, "up"]);
  return kind;
}

/** Whether the kernel can create links of `kind` (e.g. ipvlan), probed on a throwaway sy link. */
export async function kernelSupportsLinkKind(kind: "ipvlan" | "macvlan" | "dummy"): Promise<boolean> {
  const probe = `syprobe${Math.floor(Math.random() * 1e5)}`;
  const master = `${probe}m`;
  try {
    await createMasterLink(master);
    const args = kind === "dummy" ? ["link", "add", probe, "type", "dummy"] : ["link", "add", "link", master, "name", probe, "type", kind];
    const { code } = await run("ip", args, { check: false });
    return code === 0;
  } finally {
    await run("ip", ["link", "del", probe], { check: false });
    await run("ip", ["link", "del", master], { check: false });
  }
}

/** Deletes a test link (sy…) if it exists. */
export async function deleteLink(name: string, netns?: string): Promise<void> {
  assertTestLinkName(name);
  await run("ip", [...nsArgs(netns), "link", "del", name], { check: false });
}

export async function linkExists(name: string, netns?: string): Promise<boolean> {
  const { code } = await run("ip", [...nsArgs(netns), "link", "show", "dev", name], { check: false });
  return code === 0;
}

/** Reads a sysctl on the host, e.g. `net/ipv4/conf/all/route_localnet`; null when absent. */
export async function readSysctl(key: string): Promise<string | null> {
  try {
    return (await readFile(`/proc/sys/${key}`, "utf8")).trim();
  } catch {
    return null;
  }
}

export async function writeSysctl(key: string, value: string): Promise<void> {
  await run("sysctl", ["-q", "-w", `${key.replaceAll("/", ".")}=${value}`]);
}
