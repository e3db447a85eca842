import { type TestNetns, run } from "@switchyard/cni/test-host";

/**
 * Gives a test namespace standing in for a host an "uplink": a veth pair inside it (both ends
 * up, no packet leaves the namespace) holding 10.99.0.1/24 and fd00:99::1/64, with default
 * routes through a neighbour on it. So an address with no route of ours is routable, and a
 * blackhole is what makes it fail: the tests can tell the two apart.
 */
export async function addUplink(ns: TestNetns): Promise<void> {
  const ip = (...args: string[]) => run("ip", ["-n", ns.name, ...args]);
  await ip("link", "add", "syup0", "type", "veth", "peer", "name", "syup0p");
  await ip("link", "set", "syup0", "up");
  await ip("link", "set", "syup0p", "up");
  await ip("addr", "add", "10.99.0.1/24", "dev", "syup0");
  await ip("-6", "addr", "add", "fd00:99::1/64", "dev", "syup0", "nodad");
  await ip("route", "add", "default", "via", "10.99.0.254", "dev", "syup0");
  await ip("-6", "route", "add", "default", "via", "fd00:99::fe", "dev", "syup0");
}

// A UDP connect() is a route lookup only: nothing is sent (design §8's table).
const CONNECT_SCRIPT = `
const dgram = require("node:dgram");
const addr = process.argv[1];
const s = dgram.createSocket(addr.includes(":") ? "udp6" : "udp4");
const fail = (e) => { console.log(JSON.stringify({ ok: false, code: e.code })); process.exit(0); };
s.on("error", fail);
// Node hands a failed connect() to the callback, not to "error".
s.connect(80, addr, (e) => { if (e) fail(e); console.log(JSON.stringify({ ok: true, source: s.address().address })); process.exit(0); });
`;

/** What `connect()` to `address` port 80 from inside `netns` says: ok with its source, or the errno code. */
export async function udpConnect(netns: string, address: string): Promise<{ ok: boolean; code?: string; source?: string }> {
  const { stdout } = await run("ip", ["netns", "exec", netns, process.execPath, "-e", CONNECT_SCRIPT, address], { timeoutMs: 10_000 });
  return JSON.parse(stdout.trim()) as { ok: boolean; code?: string; source?: string };
}

export interface VethEnd {
  netns: string;
  ifname: string;
  /** "address/prefix", or none. */
  cidr?: string;
}

/** A veth pair from one test namespace to another, both ends up with their addresses. */
export async function linkNamespaces(a: VethEnd, b: VethEnd): Promise<void> {
  await run("ip", ["-n", a.netns, "link", "add", a.ifname, "type", "veth", "peer", "name", b.ifname, "netns", b.netns]);
  for (const end of [a, b]) {
    if (end.cidr) await run("ip", ["-n", end.netns, "addr", "add", end.cidr, "dev", end.ifname, ...(end.cidr.includes(":") ? ["nodad"] : [])]);
    await run("ip", ["-n", end.netns, "link", "set", end.ifname, "up"]);
  }
}

/** Turns a test namespace into a router (the sysctl is per namespace: the host's is untouched). */
export async function enableForwarding(netns: string): Promise<void> {
  await run("ip", ["netns", "exec", netns, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"]);
}
