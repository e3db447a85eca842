/**
 * `switchyard-agent uninstall` (issue 12: the table goes when the agent is uninstalled), run as an
 * operator runs it (the built bin) against a namespace standing in for the host, after the
 * agent's own services sync programmed it: both tables, the routes and the sink go, a foreign
 * table and a foreign route stay, a second run says there is nothing to remove, bad arguments and
 * a namespace that is not there fail with their own exit codes.
 */
import { spawnSync } from "node:child_process";
import { type TestNetns, createNetnsPool, run } from "@switchyard/cni/test-host";
import type { DesiredServices } from "@switchyard/dataplane";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { systemClock } from "../src/clock";
import { createLogger } from "../src/log";
import { SINK_DEVICE } from "../src/services/routes";
import { createServicesSync } from "../src/services/sync";
import { AGENT_BIN, isRoot } from "./harness";

const member = (address: string) => ({ address, port: null, weight: 1, state: "active" as const, health: "none" as const, localCidr: null });
const desired = (family: 4 | 6): DesiredServices =>
  family === 4
    ? { version: 1, family, serviceCidrs: ["10.96.0.0/16"], services: [{ id: "svcweb", name: "web", vip: "10.96.0.10", ports: [{ protocol: "tcp", port: 80, targetPort: 8080 }], affinity: null, members: [member("10.70.0.10")] }] }
    : { version: 1, family, serviceCidrs: ["fd00:96::/112"], services: [{ id: "svcweb6", name: "web", vip: "fd00:96::10", ports: [{ protocol: "udp", port: 53, targetPort: 5353 }], affinity: null, members: [member("fd00:70::10")] }] };

const uninstall = (...args: string[]) => spawnSync(process.execPath, [AGENT_BIN, "uninstall", ...args], { encoding: "utf8", timeout: 60_000 });

describe.runIf(isRoot)("switchyard-agent uninstall (issue 12)", { timeout: 120_000 }, () => {
  const pool = createNetnsPool();
  let ns: TestNetns;
  const nftTables = async () => (await run("ip", ["netns", "exec", ns.name, "nft", "list", "tables"])).stdout.trim().split("\n").filter(Boolean).sort();
  const routes = async (family: "-4" | "-6", ...filter: string[]) => (await run("ip", ["-n", ns.name, family, "route", "show", "table", "main", ...filter])).stdout;

  beforeAll(async () => {
    ns = await pool.create();
    // What the agent leaves on a host: its sync programmed both families here.
    const sync = createServicesSync({ fetchDesired: async (f) => desired(f), report: async () => undefined, netns: ns.name, log: createLogger("error"), clock: systemClock });
    await sync.wake();
    sync.stop();
    // Not ours: another table, and a route of another protocol inside the service CIDR.
    await run("ip", ["netns", "exec", ns.name, "nft", "add", "table", "ip", "sytest_other"]);
    await run("ip", ["-n", ns.name, "route", "add", "blackhole", "10.96.7.0/24", "proto", "static"]);
  });
  afterAll(() => pool.cleanup());

  it("removes both tables, the routes and the sink, prints each, leaves what is not ours; a second run has nothing to remove", async () => {
    expect(await nftTables()).toEqual(["table ip switchyard", "table ip sytest_other", "table ip6 switchyard"]);
    expect(await routes("-4")).toMatch(/blackhole 10\.96\.0\.0\/16 proto 83/);
    expect(await routes("-6")).toMatch(/fd00:96::10 dev sy-svc0 proto 83/);

    const first = uninstall("--services", `netns:${ns.name}`);
    expect(first.status, first.stderr).toBe(0);
    const printed = first.stdout.trim().split("\n").map((l) => l.replace(` (netns ${ns.name})`, "")).sort();
    expect(printed).toEqual(
      [
        "removed table ip switchyard",
        "removed table ip6 switchyard",
        "removed route blackhole 10.96.0.0/16",
        "removed route 10.96.0.10/32 dev sy-svc0",
        "removed route blackhole fd00:96::/112",
        "removed route fd00:96::10/128 dev sy-svc0",
        `removed device ${SINK_DEVICE}`,
      ].sort(),
    );
    expect(await nftTables()).toEqual(["table ip sytest_other"]);
    expect(await routes("-4", "proto", "83")).toBe("");
    expect((await routes("-6", "proto", "83")).trim()).toBe("");
    expect(await routes("-4")).toMatch(/blackhole 10\.96\.7\.0\/24 proto static/);
    expect((await run("ip", ["-n", ns.name, "link", "show"])).stdout).not.toContain(SINK_DEVICE);

    const second = uninstall("--services", `netns:${ns.name}`);
    expect(second.status, second.stderr).toBe(0);
    expect(second.stdout.trim()).toBe(`nothing to remove (netns ${ns.name}): no Switchyard table, route or sink device`);
  });

  it("bad arguments exit 2 and a namespace that is not there exits 1, each saying why, with nothing changed", async () => {
    await run("ip", ["netns", "exec", ns.name, "nft", "add", "table", "ip", "switchyard"]);
    for (const args of [["--services", "off"], ["--services", "netns:../x"], ["--services", "elsewhere"], ["--no-such-flag"]]) {
      const r = uninstall(...args);
      expect(r.status, `${args.join(" ")}: ${r.stderr}`).toBe(2);
      expect(r.stderr).not.toBe("");
    }
    const missing = uninstall("--services", "netns:sytest-not-there");
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain("sytest-not-there");
    expect(await nftTables()).toEqual(["table ip switchyard", "table ip sytest_other"]);
  });
});
