import { existsSync } from "node:fs";
import { NETNS_DIR } from "@switchyard/cni/test-host";
import { afterAll, describe, expect, it } from "vitest";
import { isRoot } from "./harness";
import { type BackendBench, countAnswers, createBackendBench } from "./support/backends";

// The traffic bench the VIP tests stand on: each backend answers its own name, straight to its
// address (no VIP yet), from a client on the bridge and from a routed client; cleanup leaves nothing.
describe.skipIf(!isRoot)("backend bench (traffic-test harness)", () => {
  const benches: BackendBench[] = [];
  afterAll(async () => {
    for (const b of benches) await b.cleanup();
  });

  it("30 requests straight to each of 3 backends from a bridged client: each answers its own name", async () => {
    const bench = await createBackendBench({ count: 3 });
    benches.push(bench);
    expect(bench.backends.map((b) => `${b.name}@${b.address}`)).toEqual(["backend-0@10.70.0.10", "backend-1@10.70.0.11", "backend-2@10.70.0.12"]);
    for (const b of bench.backends) {
      const counts = await countAnswers({ clientNetns: bench.client.netns.name, address: b.address, port: b.port, requests: 30 });
      expect(counts).toEqual({ byName: { [b.name]: 30 }, failures: 0, errors: [] });
    }

    // A stopped backend refuses (the bench can take a member down), and comes back.
    await bench.stopBackend("backend-1");
    const down = await countAnswers({ clientNetns: bench.client.netns.name, address: "10.70.0.11", port: 8080, requests: 3 });
    expect(down).toMatchObject({ byName: {}, failures: 3, errors: ["ECONNREFUSED", "ECONNREFUSED", "ECONNREFUSED"] });
    await bench.startBackend("backend-1");
    expect((await countAnswers({ clientNetns: bench.client.netns.name, address: "10.70.0.11", port: 8080, requests: 3 })).byName).toEqual({ "backend-1": 3 });

    const names = [bench.host, bench.client.netns, ...bench.backends.map((b) => b.netns)].map((n) => n.name);
    const pids = bench.backends.map((b) => b.process.child);
    await bench.cleanup();
    for (const n of names) expect(existsSync(`${NETNS_DIR}/${n}`)).toBe(false);
    for (const child of pids) expect(child.exitCode !== null || child.signalCode !== null).toBe(true);
  });

  it("a routed client (forwarded through the host namespace) reaches every backend too", async () => {
    const bench = await createBackendBench({ count: 2, client: "routed" });
    benches.push(bench);
    expect(bench.client.address).toBe("10.71.0.2");
    for (const b of bench.backends) {
      expect((await countAnswers({ clientNetns: bench.client.netns.name, address: b.address, port: b.port, requests: 10, concurrency: 2 })).byName).toEqual({ [b.name]: 10 });
    }
  });

  it("refuses unbounded loads", async () => {
    await expect(countAnswers({ clientNetns: "sytest-none", address: "10.70.0.10", port: 8080, requests: 10_001 })).rejects.toThrow(/must be 1-10000/);
    await expect(createBackendBench({ count: 0 })).rejects.toThrow(/must be 1-50/);
  });
});
