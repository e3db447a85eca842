import { type ApiTest, serveApi, setupApiTest } from "@switchyard/api/testing";
import { afterAll, beforeAll } from "vitest";

export { AGENT_BIN, agentArgs } from "./agent-args";
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
