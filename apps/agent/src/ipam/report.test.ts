import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { IpamDelta, IpamSnapshot } from "@switchyard/api/schemas/ipam";
import { createCniRuntime, loadNetworkList } from "@switchyard/cni";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { applyIpamDelta } from "./delta";
import { createIpamReporter } from "./report";
import { buildIpamSnapshot } from "./snapshot";

let root: string;
beforeEach(() => {
  root = realpathSync(mkdtempSync(join(tmpdir(), "agent-ipam-report-")));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

/** A console that keeps what it is sent, as the real one will: the snapshot, then the deltas applied to it. */
function createConsole() {
  const calls: string[] = [];
  let held: IpamSnapshot | undefined;
  let failNext = false;
  return {
    calls,
    held: () => held,
    failNextDelta: () => {
      failNext = true;
    },
    port: {
      async sendSnapshot(s: IpamSnapshot) {
        calls.push("snapshot");
        held = IpamSnapshot.parse(s);
      },
      async sendDelta(d: IpamDelta) {
        calls.push("delta");
        if (failNext) {
          failNext = false;
          throw new Error("console unreachable");
        }
        held = applyIpamDelta(held!, IpamDelta.parse(d));
      },
    },
  };
}

describe("createIpamReporter", () => {
  it("sends a snapshot first, then only changes, nothing when idle, and a snapshot again after a failed send or a reset", async () => {
    const dataDir = join(root, "networks");
    const dir = join(dataDir, "a");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "10.1.0.2"), "c1\r\neth0");
    const net = loadNetworkList(JSON.stringify({ cniVersion: "1.0.0", name: "a", plugins: [{ type: "bridge", ipam: { type: "host-local", subnet: "10.1.0.0/24", dataDir } }] }));
    const runtime = createCniRuntime({ pluginDirs: ["/usr/lib/cni"], cacheDir: join(root, "cache") });
    let clock = 0;
    const take = (previous: IpamSnapshot | undefined) =>
      buildIpamSnapshot({ networks: [{ name: "a", knownFrom: ["console"], net }], runtime, netnsDirs: ["/run/netns"], allowedDataDirRoots: [dataDir], previous, now: () => ++clock });
    const consoleSide = createConsole();
    const reporter = createIpamReporter(take, consoleSide.port);
    const leasesHeld = () => consoleSide.held()!.networks[0]!.leases.map((l) => l.address);

    expect(await reporter.report()).toBe("snapshot");
    expect(await reporter.report()).toBe("unchanged");
    writeFileSync(join(dir, "10.1.0.3"), "c2\r\neth0");
    expect(await reporter.report()).toBe("delta");
    expect(leasesHeld()).toEqual(["10.1.0.2", "10.1.0.3"]);

    rmSync(join(dir, "10.1.0.2"));
    consoleSide.failNextDelta();
    await expect(reporter.report()).rejects.toThrow("console unreachable");
    expect(await reporter.report()).toBe("snapshot");
    expect(leasesHeld()).toEqual(["10.1.0.3"]);

    reporter.reset();
    expect(await reporter.report()).toBe("snapshot");
    expect(consoleSide.calls).toEqual(["snapshot", "delta", "delta", "snapshot", "snapshot"]);
  });

  it("runs one report at a time and folds the calls made meanwhile into one more", async () => {
    let takes = 0;
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const take = async () => {
      takes++;
      if (takes === 1) await gate;
      return { takenAt: takes, networks: [] };
    };
    const consoleSide = createConsole();
    const reporter = createIpamReporter(take, consoleSide.port);
    const first = reporter.report();
    const second = reporter.report();
    const third = reporter.report();
    expect(second).toBe(third);
    release();
    expect(await first).toBe("snapshot");
    expect(await second).toBe("unchanged");
    expect(takes).toBe(2);
  });
});
