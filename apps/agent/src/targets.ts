import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export type TargetKind = "netns" | "pid" | "sandbox";

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$/;

/** `ip netns` keeps its namespaces here; sandboxes need the agent's netns dir to be it. */
const IP_NETNS_DIRS = ["/run/netns", "/var/run/netns"];

export class TargetError extends Error {}

/** The netns path of an attachment's target, re-validated here whatever the console sent. */
export function netnsPathOf(kind: TargetKind, target: string, netnsDir: string): string {
  if (kind === "pid") {
    if (!/^[1-9][0-9]{0,6}$/.test(target) || Number(target) < 2) throw new TargetError(`invalid pid ${JSON.stringify(target)}`);
    return `/proc/${target}/ns/net`;
  }
  if (!NAME_RE.test(target)) throw new TargetError(`invalid namespace name ${JSON.stringify(target)}`);
  return join(netnsDir, target);
}

function requireIpNetnsDir(netnsDir: string): void {
  if (!IP_NETNS_DIRS.includes(resolve(netnsDir))) {
    throw new TargetError(`sandboxes are made with "ip netns add", which uses /run/netns; the agent's netns dir is ${netnsDir}`);
  }
}

/** Creates the sandbox's namespace unless it exists. */
export async function ensureSandbox(name: string, netnsDir: string): Promise<"created" | "existed"> {
  requireIpNetnsDir(netnsDir);
  if (!NAME_RE.test(name)) throw new TargetError(`invalid namespace name ${JSON.stringify(name)}`);
  if (existsSync(join(netnsDir, name))) return "existed";
  await run("ip", ["netns", "add", name], { timeout: 10_000 });
  // The loopback of a fresh namespace is down; containers expect it up.
  await run("ip", ["-n", name, "link", "set", "lo", "up"], { timeout: 10_000 });
  return "created";
}

/** Deletes the sandbox's namespace; a missing one is fine. */
export async function deleteSandbox(name: string, netnsDir: string): Promise<"deleted" | "absent"> {
  requireIpNetnsDir(netnsDir);
  if (!NAME_RE.test(name)) throw new TargetError(`invalid namespace name ${JSON.stringify(name)}`);
  if (!existsSync(join(netnsDir, name))) return "absent";
  await run("ip", ["netns", "del", name], { timeout: 10_000 });
  return "deleted";
}
