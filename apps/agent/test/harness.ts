import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type ApiTest, serveApi, setupApiTest } from "@switchyard/api/testing";
import { afterAll, beforeAll } from "vitest";

/** The agent as an operator runs it: the bin, which loads the built bundle. */
export const AGENT_BIN = resolve(fileURLToPath(new URL("../bin/switchyard-agent", import.meta.url)));
export const isRoot = process.getuid?.() === 0;

export interface TestConsole {
  t: ApiTest;
  server: Awaited<ReturnType<typeof serveApi>>;
  admin: Awaited<ReturnType<ApiTest["callerAs"]>>;
  operator: Awaited<ReturnType<ApiTest["callerAs"]>>;
}

/** A console (a fresh database, its HTTP endpoints on loopback) for the tests of one describe; closed after them. */
export function useTestConsole(): TestConsole {
  const c = {} as TestConsole;
  beforeAll(async () => {
    c.t = await setupApiTest();
    c.server = await serveApi(c.t.deps);
    c.admin = await c.t.callerAs("admin", "root-admin");
    c.operator = await c.t.callerAs("operator", "op");
  });
  afterAll(async () => {
    await c.server?.close();
    await c.t?.close();
  });
  return c;
}

/**
 * A test agent's command line: its data dir, cache and conf dir under `root`, the machine's
 * plugins, no reconcile timer (tests ask for what they need), `extra` last.
 */
export function agentArgs(o: { consoleUrl: string; root: string; cacheDir: string; hostname: string; joinToken: string; extra?: string[] }): string[] {
  return [
    AGENT_BIN, "--console-url", o.consoleUrl, "--join-token", o.joinToken, "--hostname", o.hostname,
    "--data-dir", join(o.root, "agent"), "--cache-dir", o.cacheDir, "--conf-dir", join(o.root, "net.d"), "--netns-dir", "/run/netns",
    "--cni-path", "/opt/cni/bin:/usr/lib/cni", "--reconcile-interval", "600000", ...(o.extra ?? []),
  ];
}
