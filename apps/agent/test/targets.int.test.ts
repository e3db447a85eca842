/**
 * Sandbox namespaces as the agent makes and deletes them, with the real `ip` (root): one sandbox
 * attached to two networks holds two interfaces, and detaching one must not delete the namespace
 * with the other's interface in it.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { inProcessSpawner } from "@switchyard/cni";
import { randomSuffix } from "@switchyard/cni/test-host";
import { afterEach, describe, expect, it } from "vitest";
import { deleteSandbox, ensureSandbox } from "../src/targets";

const isRoot = process.getuid?.() === 0;
const made: string[] = [];
afterEach(() => {
  for (const name of made.splice(0)) spawnSync("ip", ["netns", "del", name]);
});

describe.runIf(isRoot)("sandbox namespaces (real ip netns)", () => {
  it("keeps a sandbox that still holds another attachment's interface; the last detach deletes it", async () => {
    const name = `sytest-${randomSuffix()}`;
    made.push(name);
    expect(await ensureSandbox(name, "/run/netns", inProcessSpawner)).toBe("created");
    // The other network's interface: a veth pair inside the namespace stands in for its veth.
    expect(spawnSync("ip", ["-n", name, "link", "add", "net2", "type", "veth", "peer", "name", "net2p"]).status).toBe(0);
    expect(await deleteSandbox(name, "/run/netns", inProcessSpawner)).toBe("kept: net2p, net2 still in it (another attachment)");
    expect(existsSync(`/run/netns/${name}`)).toBe(true);
    expect(spawnSync("ip", ["-n", name, "link", "show", "net2"]).status).toBe(0);
    // Its detach removes the interface; the namespace goes with the last one.
    expect(spawnSync("ip", ["-n", name, "link", "del", "net2"]).status).toBe(0);
    expect(await deleteSandbox(name, "/run/netns", inProcessSpawner)).toBe("deleted");
    expect(existsSync(`/run/netns/${name}`)).toBe(false);
    expect(await deleteSandbox(name, "/run/netns", inProcessSpawner)).toBe("absent");
  });
});
