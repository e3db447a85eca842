import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

// No test framework here: bench/ipam.ts starts its agent with these too.

/** The agent as an operator runs it: the bin, which loads the built bundle. */
export const AGENT_BIN = resolve(fileURLToPath(new URL("../bin/switchyard-agent", import.meta.url)));

/**
 * A test agent's command line: its data dir, cache and conf dir under `root`, the machine's
 * plugins, no reconcile timer (tests ask for what they need), no services data plane unless
 * `extra` names one (several test agents share this machine: none may program its own table), no
 * watching of other runtimes unless `extra` asks, `extra` last.
 */
export function agentArgs(o: { consoleUrl: string; root: string; cacheDir: string; hostname: string; joinToken: string; extra?: string[] }): string[] {
  return [
    AGENT_BIN, "--console-url", o.consoleUrl, "--join-token", o.joinToken, "--hostname", o.hostname,
    "--data-dir", join(o.root, "agent"), "--cache-dir", o.cacheDir, "--conf-dir", join(o.root, "net.d"), "--netns-dir", "/run/netns",
    "--cni-path", "/opt/cni/bin:/usr/lib/cni", "--reconcile-interval", "600000",
    ...((o.extra ?? []).includes("--services") ? [] : ["--services", "off"]),
    // Other runtimes' containers are reported by the tests that say so (podman is on this machine).
    ...((o.extra ?? []).includes("--observe") ? [] : ["--observe", "off"]), ...(o.extra ?? []),
  ];
}
