import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { tempDir } from "../../test/fakes";
import { systemClock } from "../clock";
import type { Logger } from "../log";
import { OBSERVED_MAX, OBSERVED_MAX_BYTES, createObserver, selectableLabels, type ObservedReport } from "./observer";
import type { ContainerSource } from "./podman";

const log = () => {
  const lines: string[] = [];
  const logger: Logger = { debug: () => {}, info: (m) => void lines.push(`info ${m}`), warn: (m) => void lines.push(`warn ${m}`), error: (m) => void lines.push(`error ${m}`) };
  return { logger, lines };
};

describe("selectableLabels", () => {
  it("keeps the pairs a selector may match and counts the rest, crafted ones included", () => {
    expect(selectableLabels({ app: "web", "example.com/tier": "edge", "bad key;$(reboot)": "x", ok: "a b", "": "v", long: "x".repeat(64) })).toEqual({
      labels: { app: "web", "example.com/tier": "edge" },
      leftOut: 4,
    });
  });
});

describe("the observer", () => {
  const dirs: { remove(): void }[] = [];
  afterEach(() => dirs.splice(0).forEach((d) => d.remove()));

  /** A cache dir holding libcni entries: this agent's own, podman's, and one no runtime here knows. */
  function setup(source: ContainerSource) {
    const dir = tempDir();
    dirs.push(dir);
    const results = join(dir.path, "results");
    mkdirSync(results);
    const entry = (network: string, id: string, address: string) => {
      const file = join(results, `${network}-${id}-eth0`);
      writeFileSync(file, JSON.stringify({ kind: "cniCacheV1", containerId: id, config: Buffer.from("{}").toString("base64"), ifName: "eth0", networkName: network, result: { cniVersion: "1.0.0", ips: [{ address }] } }));
      return { networkName: network, containerId: id, ifName: "eth0", netns: `/run/netns/${id}`, file };
    };
    const cached = [entry("lab", "mine", "10.1.0.2/24"), entry("lab", "podman1", "10.1.0.3/24"), entry("elsewhere", "stranger", "10.9.0.3/24")];
    const reports: ObservedReport[] = [];
    const l = log();
    const observer = createObserver({
      runtime: { listCachedAttachments: async () => cached },
      cacheDir: dir.path,
      owned: { has: (k) => k.containerId === "mine" },
      sources: [source],
      report: async (r) => reports.push(r),
      log: l.logger,
      clock: systemClock,
    });
    return { observer, reports, lines: l.lines };
  }

  it("reports the entries it did not make, described by podman; a network the console may not know is kept", async () => {
    const podman: ContainerSource = { runtime: "podman", list: async () => new Map([["podman1", { id: "podman1", name: "web-1", image: "localhost/busybox", labels: { app: "web", "no good": "x" }, state: "running" }]]) };
    const s = setup(podman);
    const report = await s.observer.collect();
    expect(report.runtimes).toEqual([{ runtime: "podman", ok: true }]);
    expect(report.attachments).toEqual([
      { runtime: "unknown", containerId: "stranger", networkName: "elsewhere", ifName: "eth0", netns: "/run/netns/stranger", name: "", image: "", labels: {}, labelsLeftOut: 0, state: "", addresses: ["10.9.0.3/24"] },
      { runtime: "podman", containerId: "podman1", networkName: "lab", ifName: "eth0", netns: "/run/netns/podman1", name: "web-1", image: "localhost/busybox", labels: { app: "web" }, labelsLeftOut: 1, state: "running", addresses: ["10.1.0.3/24"] },
    ]);
    // Sent once; the same picture again is not sent.
    await s.observer.wake();
    await s.observer.wake();
    expect(s.reports).toHaveLength(1);
  });

  it("a runtime that does not answer: the agent goes on with the cache, says why once, and says when it answers again", async () => {
    let answer = false;
    const podman: ContainerSource = {
      runtime: "podman",
      list: async () => {
        if (!answer) throw new Error("podman did not answer within 10000 ms");
        return new Map();
      },
    };
    const s = setup(podman);
    await s.observer.wake();
    await s.observer.wake();
    expect(s.reports).toHaveLength(1);
    expect(s.reports[0]!.runtimes).toEqual([{ runtime: "podman", ok: false, error: "podman did not answer within 10000 ms" }]);
    expect(s.reports[0]!.attachments.map((a) => [a.containerId, a.runtime])).toEqual([["stranger", "unknown"], ["podman1", "unknown"]]);
    expect(s.lines.filter((l) => l.startsWith("warn"))).toHaveLength(1);
    answer = true;
    await s.observer.wake();
    expect(s.reports.at(-1)!.runtimes).toEqual([{ runtime: "podman", ok: true }]);
    expect(s.lines).toContain("info podman answers again");
  });

  it("a host with thousands of containers reports what fits in one agent call, and says so once", async () => {
    const dir = tempDir();
    dirs.push(dir);
    mkdirSync(join(dir.path, "results"));
    const cached = Array.from({ length: OBSERVED_MAX }, (_, i) => {
      const id = `c${String(i).padStart(6, "0")}${"x".repeat(56)}`;
      const file = join(dir.path, "results", `lab-${id}-eth0`);
      writeFileSync(file, JSON.stringify({ kind: "cniCacheV1", containerId: id, config: "e30=", ifName: "eth0", networkName: "lab", result: { cniVersion: "1.0.0", ips: [{ address: "10.1.0.2/16" }] } }));
      return { networkName: "lab", containerId: id, ifName: "eth0", netns: `/run/netns/netns-${"n".repeat(200)}-${i}`, file };
    });
    const l = log();
    const observer = createObserver({ runtime: { listCachedAttachments: async () => cached }, cacheDir: dir.path, owned: { has: () => false }, sources: [], report: async () => undefined, log: l.logger, clock: systemClock });
    const report = await observer.collect();
    expect(Buffer.byteLength(JSON.stringify(report))).toBeLessThanOrEqual(OBSERVED_MAX_BYTES);
    expect(report.attachments.length).toBeGreaterThan(1000);
    expect(report.attachments.length).toBeLessThan(OBSERVED_MAX);
    await observer.collect();
    expect(l.lines.filter((x) => x.startsWith("warn containers of other runtimes cut"))).toHaveLength(1);
  });
});
