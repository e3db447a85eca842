import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { NetnsName } from "@switchyard/api/schemas";
import type { Spawner } from "@switchyard/cni";

export type TargetKind = "netns" | "pid" | "sandbox";

/** Checks a namespace name with the console's own schema; throws naming the value and the rule. */
function requireNetnsName(name: string): void {
  const parsed = NetnsName.safeParse(name);
  if (!parsed.success) throw new TargetError(`invalid namespace name ${JSON.stringify(name)}: ${parsed.error.issues[0]?.message ?? "not a name"}`);
}

/** `ip netns` keeps its namespaces here; sandboxes need the agent's netns dir to be it. */
const IP_NETNS_DIRS = ["/run/netns", "/var/run/netns"];

export class TargetError extends Error {}

/** Runs `ip` through the agent's spawner (off its event loop); a non-zero exit throws with ip's own message. */
async function ip(spawner: Spawner, args: string[]): Promise<string> {
  const run = await spawner.run({ file: "ip", args, env: { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin" }, timeoutMs: 10_000, maxStdoutBytes: 1 << 20, maxStderrBytes: 1 << 16 });
  if (run.spawnError) throw new TargetError(`ip ${args.join(" ")}: ${run.spawnError.message}`);
  if (run.timedOut) throw new TargetError(`ip ${args.join(" ")}: no answer within 10 s`);
  if (run.exitCode !== 0) throw new TargetError(`ip ${args.join(" ")} failed (${run.signal ?? `status ${run.exitCode}`}): ${run.stderr.trim()}`);
  return run.stdout;
}

/**
 * The links a new namespace has of its own: loopback, and the fallback devices that the tunnel
 * modules (ipip, gre, ip_vti, sit, ip6_tunnel, ip6_gre), once loaded, add to every namespace.
 */
const NAMESPACE_OWN_LINKS = new Set(["lo", "tunl0", "gre0", "gretap0", "erspan0", "ip_vti0", "ip6_vti0", "sit0", "ip6tnl0", "ip6gre0"]);

/** The links in `ip -j link show` output that someone put into the namespace (an attachment's interface). */
export function linksInUse(ipLinkJson: string): string[] {
  let links: unknown;
  try {
    links = JSON.parse(ipLinkJson || "[]");
  } catch {
    throw new TargetError(`ip -j link show printed no JSON: ${JSON.stringify(ipLinkJson.slice(0, 200))}`);
  }
  if (!Array.isArray(links)) throw new TargetError("ip -j link show printed no list of links");
  return links.map((l) => String((l as { ifname?: unknown }).ifname ?? "")).filter((name) => name && !NAMESPACE_OWN_LINKS.has(name));
}

/** The netns path of an attachment's target, re-validated here whatever the console sent. */
export function netnsPathOf(kind: TargetKind, target: string, netnsDir: string): string {
  if (kind === "pid") {
    if (!/^[1-9][0-9]{0,6}$/.test(target) || Number(target) < 2) throw new TargetError(`invalid pid ${JSON.stringify(target)}`);
    return `/proc/${target}/ns/net`;
  }
  requireNetnsName(target);
  return join(netnsDir, target);
}

function requireIpNetnsDir(netnsDir: string): void {
  if (!IP_NETNS_DIRS.includes(resolve(netnsDir))) {
    throw new TargetError(`sandboxes are made with "ip netns add", which uses /run/netns; the agent's netns dir is ${netnsDir}`);
  }
}

/** Creates the sandbox's namespace unless it exists. Its loopback is still down: see sandboxLoopbackUp. */
export async function ensureSandbox(name: string, netnsDir: string, spawner: Spawner): Promise<"created" | "existed"> {
  requireIpNetnsDir(netnsDir);
  requireNetnsName(name);
  if (existsSync(join(netnsDir, name))) return "existed";
  await ip(spawner, ["netns", "add", name]);
  return "created";
}

/**
 * Sets the sandbox's loopback up (a fresh namespace has it down; containers expect it up).
 * Idempotent; independent of the CNI plugins, so it runs beside ADD rather than before it.
 */
export async function sandboxLoopbackUp(name: string, netnsDir: string, spawner: Spawner): Promise<void> {
  requireIpNetnsDir(netnsDir);
  requireNetnsName(name);
  await ip(spawner, ["-n", name, "link", "set", "lo", "up"]);
}

/**
 * Deletes the sandbox's namespace once nothing else is in it; a missing one is fine. One sandbox
 * can hold several attachments (one per network, each its own interface): the detach of one must
 * not take the others' interfaces with the namespace, so a namespace that still holds a link
 * other than its own is kept (the last detach deletes it). Callers serialise the operations on
 * one namespace (scheduler.ts), so no ADD into it runs between this check and the delete.
 */
export async function deleteSandbox(name: string, netnsDir: string, spawner: Spawner): Promise<"deleted" | "absent" | `kept: ${string}`> {
  requireIpNetnsDir(netnsDir);
  requireNetnsName(name);
  if (!existsSync(join(netnsDir, name))) return "absent";
  const inUse = linksInUse(await ip(spawner, ["-j", "-n", name, "link", "show"]));
  if (inUse.length > 0) return `kept: ${inUse.join(", ")} still in it (another attachment)`;
  await ip(spawner, ["netns", "del", name]);
  return "deleted";
}
