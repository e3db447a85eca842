import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { run } from "./exec";

export const NETNS_DIR = "/var/run/netns";

export interface TestNetns {
  name: string;
  path: string;
  /** Deletes the namespace; safe to call twice. */
  remove(): Promise<void>;
}

/** A short random suffix: lower-case hex, so it is valid in netns, link, network and container names. */
export function randomSuffix(bytes = 4): string {
  return randomBytes(bytes).toString("hex");
}

/** `ip netns add sytest-<random>`; every test namespace carries the `sytest-` prefix. */
export async function createNetns(): Promise<TestNetns> {
  const name = `sytest-${randomSuffix()}`;
  await run("ip", ["netns", "add", name]);
  // lo up so that loopback-only checks inside the namespace behave like a real container.
  await run("ip", ["-n", name, "link", "set", "lo", "up"]);
  return { name, path: `${NETNS_DIR}/${name}`, remove: () => deleteNetns(name) };
}

export async function deleteNetns(name: string): Promise<void> {
  if (!name.startsWith("sytest-")) throw new Error(`refusing to delete netns "${name}": not a test namespace`);
  if (!existsSync(`${NETNS_DIR}/${name}`)) return;
  await run("ip", ["netns", "del", name], { check: false });
}

export async function listNetns(): Promise<string[]> {
  const { stdout } = await run("ip", ["-j", "netns", "list"], { check: false });
  if (!stdout.trim()) return [];
  return (JSON.parse(stdout) as { name: string }[]).map((n) => n.name);
}

/** Deletes every `sytest-` namespace this process created and that is still around. */
export function createNetnsPool(): { create(): Promise<TestNetns>; cleanup(): Promise<void> } {
  const made = new Set<string>();
  return {
    async create() {
      const ns = await createNetns();
      made.add(ns.name);
      return ns;
    },
    async cleanup() {
      for (const name of made) await deleteNetns(name);
      made.clear();
    },
  };
}
