import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { createTestDirs, randomSuffix } from "@switchyard/cni/test-host";
import { agentArgs, type TestConsole } from "../harness";
import { waitFor } from "../wait";
import { type ConsoleRelay, relayConsoleInto } from "./console-relay";

/**
 * A real agent enrolled in a test console, programming services into a test namespace
 * (`--services netns:<name>`), that a test can stop and start again with the same credential,
 * optionally without `conntrack` (a private mount namespace where the binary is masked by
 * /dev/null: the machine's own file system is untouched). `runInside` runs the agent process in
 * that namespace too (the console relayed to its loopback), so its health checks start from the
 * "host" and reach the bench's backends.
 */
export interface ServicesAgent {
  hostId: string;
  /** Stops the running agent (SIGTERM) and starts it again; `withoutConntrack` masks the binary for this run. */
  restart(options?: { withoutConntrack?: boolean }): Promise<void>;
  /** Kills the agent and removes its directories. Safe to call twice. */
  cleanup(): Promise<void>;
}

// Run as `sh -c MASK sh node args…`: the bind mount lives only in the agent's mount namespace.
const MASK_CONNTRACK = 'for f in /usr/sbin/conntrack /sbin/conntrack; do [ -e "$f" ] && mount --bind /dev/null "$f"; done; exec "$@"';

export async function startServicesAgent(c: TestConsole, o: { servicesNetns: string; extra?: string[]; runInside?: boolean }): Promise<ServicesAgent> {
  const dirs = await createTestDirs();
  mkdirSync(join(dirs.root, "net.d"), { recursive: true });
  const relay: ConsoleRelay | null = o.runInside ? await relayConsoleInto(o.servicesNetns, c.server.url) : null;
  const hostname = `sytest-${randomSuffix()}`;
  const { token } = await c.admin.caller.hosts.createJoinToken({ note: hostname, ttlMinutes: 10 });
  // Still `--services netns:<it>` when run inside: should the process be elsewhere, it programs the test's namespace, never the machine.
  const argv = agentArgs({ consoleUrl: relay?.url ?? c.server.url, root: dirs.root, cacheDir: dirs.cacheDir, hostname, joinToken: token, extra: ["--services", `netns:${o.servicesNetns}`, ...(o.extra ?? [])] });
  const node = o.runInside ? ["ip", "netns", "exec", o.servicesNetns, process.execPath] : [process.execPath];
  const launch = (withoutConntrack: boolean): ChildProcess =>
    withoutConntrack
      ? spawn("unshare", ["-m", "--propagation", "private", "sh", "-c", MASK_CONNTRACK, "sh", ...node, ...argv], { stdio: "ignore" })
      : spawn(node[0]!, [...node.slice(1), ...argv], { stdio: "ignore" });
  let agent = launch(false);
  const stop = async () => {
    if (agent.exitCode !== null || agent.signalCode !== null) return;
    const exited = new Promise((r) => agent.once("exit", r));
    agent.kill("SIGTERM");
    const kill = setTimeout(() => agent.kill("SIGKILL"), 25_000);
    await exited;
    clearTimeout(kill);
  };
  const hostId = await waitFor("the host to enrol", async () => (await c.t.db.host.findUnique({ where: { name: hostname } }))?.id);
  return {
    hostId,
    async restart(options = {}) {
      await stop();
      agent = launch(options.withoutConntrack ?? false);
    },
    async cleanup() {
      if (agent.exitCode === null && agent.signalCode === null) agent.kill("SIGKILL");
      await relay?.close();
      await dirs.remove();
    },
  };
}
