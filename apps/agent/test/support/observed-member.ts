import { randomSuffix, run } from "@switchyard/cni/test-host";
import type { TestConsole } from "../harness";
import { waitFor } from "../wait";
import { spawnNodeInNetns } from "./netns-process";

/**
 * What the runtime tests (observed.podman, observed.containerd) do with a container another
 * runtime started: serve TCP in its network namespace, and probe the service that selects it.
 */

/**
 * A server on port 8080 in the network namespace of process `pid` (named by `ip netns attach`):
 * a Node one, whose accept backlog keeps up with a probe's connections (with busybox httpd, whose
 * backlog is 9 and which forks per connection, a few connects timed out under load). Bounded to
 * two minutes; returns its cleanup.
 */
export async function serveInNetnsOf(pid: string | number): Promise<() => Promise<void>> {
  const netns = `sytest-member-${randomSuffix()}`;
  await run("ip", ["netns", "attach", netns, String(pid)]);
  const server = spawnNodeInNetns(netns, 'require("node:net").createServer((s) => s.end()).listen(8080, () => console.log("ready"));', [], { lifetimeMs: 120_000 });
  const cleanup = async () => {
    await server.stop();
    await run("ip", ["netns", "delete", netns], { check: false });
  };
  await server.waitForLine(/^ready$/, 15_000).catch(async (e: unknown) => {
    await cleanup();
    throw e;
  });
  return cleanup;
}

/** Once `hostId` applied the service's pool: a probe of `count` connections from the host to its VIP, finished. */
export async function probeFromHost(c: TestConsole, o: { serviceId: string; hostId: string; count: number }) {
  const { operator } = c;
  await waitFor("the host to apply the pool", async () => (await operator.caller.services.get({ id: o.serviceId })).hosts.find((h) => h.hostId === o.hostId)?.applied);
  const probe = await operator.caller.services.startProbe({ serviceId: o.serviceId, hostId: o.hostId, protocol: "tcp", port: 80, source: { kind: "host" }, count: o.count });
  return waitFor("the probe", async () => {
    const p = await operator.caller.services.probe({ id: probe.id });
    return p.status === "done" || p.status === "failed" ? p : undefined;
  }, 60_000);
}
