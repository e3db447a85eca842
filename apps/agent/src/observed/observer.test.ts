import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { tempDir } from "../../test/fakes";
import { systemClock } from "../clock";
import type { Logger } from "../log";
import { OBSERVED_MAX, OBSERVED_MAX_BYTES, createObserver, selectableLabels, type ObservedReport } from "./observer";
import { followEvents, STREAM_GUARD } from "./events";
import type { ContainerSource } from "./source";

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
    const asked: string[][] = [];
    const podman: ContainerSource = {
      runtime: "podman",
      present: () => true,
      describe: async (ids) => (asked.push([...ids]), new Map([["podman1", { id: "podman1", name: "web-1", image: "localhost/busybox", labels: { app: "web", "no good": "x" }, state: "running" }]])),
    };
    const s = setup(podman);
    const report = await s.observer.collect();
    expect(report.runtimes).toEqual([{ runtime: "podman", ok: true }]);
    expect(report.attachments).toEqual([
      { runtime: "unknown", containerId: "stranger", networkName: "elsewhere", ifName: "eth0", netns: "/run/netns/stranger", name: "", image: "", labels: {}, labelsLeftOut: 0, state: "", addresses: ["10.9.0.3/24"] },
      { runtime: "podman", containerId: "podman1", networkName: "lab", ifName: "eth0", netns: "/run/netns/podman1", name: "web-1", image: "localhost/busybox", labels: { app: "web" }, labelsLeftOut: 1, state: "running", addresses: ["10.1.0.3/24"] },
    ]);
    // Asked about the entries it did not make, each once.
    expect(asked[0]!.sort()).toEqual(["podman1", "stranger"]);
    // Sent once; the same picture again is not sent.
    await s.observer.wake();
    await s.observer.wake();
    expect(s.reports).toHaveLength(1);
  });

  it("a runtime that does not answer: the agent goes on with the cache, says why once, and says when it answers again", async () => {
    let answer = false;
    const podman: ContainerSource = {
      runtime: "podman",
      present: () => true,
      describe: async () => {
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

  it("a runtime that stops answering: its containers keep what it said of them last (they stay in their pools), until the cache lets them go", async () => {
    let answer = true;
    const web = { id: "podman1", name: "web-1", image: "localhost/busybox", labels: { app: "web" }, state: "running" };
    const podman: ContainerSource = {
      runtime: "podman",
      present: () => true,
      describe: async () => {
        if (!answer) throw new Error("podman did not answer within 10000 ms");
        return new Map([["podman1", web]]);
      },
    };
    const s = setup(podman);
    const described = (r: ObservedReport) => r.attachments.find((a) => a.containerId === "podman1")!;
    expect(described(await s.observer.collect())).toMatchObject({ runtime: "podman", name: "web-1", labels: { app: "web" }, state: "running" });
    answer = false;
    const during = await s.observer.collect();
    expect(during.runtimes).toEqual([{ runtime: "podman", ok: false, error: "podman did not answer within 10000 ms" }]);
    expect(described(during)).toMatchObject({ runtime: "podman", name: "web-1", labels: { app: "web" }, state: "running" });
    // Still not answering a pass later: still kept.
    expect(described(await s.observer.collect())).toMatchObject({ runtime: "podman", state: "running" });
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

  it("each runtime is asked only about what an earlier one did not describe; one not on the host is neither asked nor reported", async () => {
    const asked: Record<string, string[]> = {};
    const source = (runtime: ContainerSource["runtime"], knows: string[], present = true): ContainerSource => ({
      runtime,
      present: () => present,
      describe: async (ids) => ((asked[runtime] = [...ids]), new Map(knows.filter((id) => ids.includes(id)).map((id) => [id, { id, name: id, image: "", labels: {}, state: "running" }]))),
    });
    const dir = tempDir();
    dirs.push(dir);
    mkdirSync(join(dir.path, "results"));
    const cached = ["podman1", "default-ctr1", "stranger"].map((id) => {
      const file = join(dir.path, "results", `lab-${id}-eth0`);
      writeFileSync(file, JSON.stringify({ kind: "cniCacheV1", containerId: id, config: "e30=", ifName: "eth0", networkName: "lab", result: { cniVersion: "1.0.0", ips: [] } }));
      return { networkName: "lab", containerId: id, ifName: "eth0", netns: `/proc/1/ns/net`, file };
    });
    const two = createObserver({
      runtime: { listCachedAttachments: async () => cached },
      cacheDir: dir.path,
      owned: { has: () => false },
      sources: [source("podman", ["podman1"]), source("containerd", ["default-ctr1"]), source("containerd", ["stranger"], false)],
      report: async () => undefined,
      log: log().logger,
      clock: systemClock,
    });
    const report = await two.collect();
    expect(asked.podman!.sort()).toEqual(["default-ctr1", "podman1", "stranger"]);
    expect(asked.containerd!.sort()).toEqual(["default-ctr1", "stranger"]);
    expect(report.runtimes).toEqual([{ runtime: "podman", ok: true }, { runtime: "containerd", ok: true }]);
    expect(report.attachments.map((a) => [a.containerId, a.runtime])).toEqual([["default-ctr1", "containerd"], ["podman1", "podman"], ["stranger", "unknown"]]);
  });
});

describe("following a runtime's events", () => {
  it("passes each line on, starts the stream again when it ends (pausing longer each time), says so once per outage, and stops when told", async () => {
    const dir = tempDir();
    try {
      // A real stream: two events, then it ends as a runtime's restart would end it; the next two starts fail at once
      // (the runtime is down), the fourth is heard again and ends too.
      const heard: string[] = [];
      const source: ContainerSource = {
        runtime: "containerd",
        present: () => true,
        describe: async () => new Map(),
        events: {
          file: "/bin/sh",
          args: ["-c", 'n=$(cat "$1" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$1"; case $n in 1|4) echo one; echo two; exit 3;; *) exit 1;; esac', "sh", join(dir.path, "runs")],
          env: { PATH: "/usr/bin:/bin" },
        },
        onEvent: (line) => void heard.push(line),
      };
      const l = log();
      const abort = new AbortController();
      let changed = 0;
      let followed = 0;
      const pauses: number[] = [];
      const clock = {
        sleep: async (ms: number) => {
          pauses.push(ms);
          if (pauses.length === 4) abort.abort();
        },
      };
      await followEvents(source, { signal: abort.signal, changed: () => void changed++, followed: () => void followed++, log: l.logger, clock, minPauseMs: 100, maxPauseMs: 400 });
      expect(heard).toEqual(["one", "two", "one", "two"]);
      expect(pauses).toEqual([100, 200, 400, 400]);
      expect(followed).toBe(4);
      // Each line, and each end (what happened while it was down is looked at).
      expect(changed).toBe(8);
      // One warning per outage, and one line when it is heard again.
      expect(l.lines.filter((x) => x.startsWith("warn containerd event stream ended"))).toHaveLength(2);
      expect(l.lines.filter((x) => x === "info containerd events followed again")).toHaveLength(1);
    } finally {
      dir.remove();
    }
  });
  it("a runtime not present is looked for again, and nothing is run", async () => {
    const abort = new AbortController();
    let sleeps = 0;
    const source: ContainerSource = { runtime: "containerd", present: () => false, describe: async () => new Map(), events: { file: "/nonexistent/ctr", args: [], env: {} } };
    await followEvents(source, { signal: abort.signal, changed: () => {}, followed: () => expect.unreachable(), log: log().logger, clock: { sleep: async () => void (++sleeps === 3 && abort.abort()) } });
    expect(sleeps).toBe(3);
  });
  it("follows only while wanted (the runtime has containers here): stopped quietly when not, started again when it is", async () => {
    const abort = new AbortController();
    let wanted = true;
    let followed = 0;
    let lines = 0;
    const l = log();
    const source: ContainerSource = {
      runtime: "podman",
      present: () => true,
      describe: async () => new Map(),
      events: { file: "/bin/sh", args: ["-c", "while :; do echo tick; sleep 0.02; done"], env: { PATH: "/usr/bin:/bin" } },
    };
    const following = followEvents(source, {
      signal: abort.signal,
      changed: () => {
        lines++;
        if (lines === 5) wanted = false;
      },
      followed: () => void followed++,
      wanted: () => wanted,
      log: l.logger,
      clock: { sleep: (ms, signal) => new Promise((r) => (setTimeout(r, ms), signal?.addEventListener("abort", () => r()))) },
      checkMs: 20,
    });
    await expect.poll(() => followed === 1 && lines >= 5).toBe(true);
    await new Promise((r) => setTimeout(r, 200));
    const quiet = lines;
    await new Promise((r) => setTimeout(r, 200));
    expect(lines).toBe(quiet);
    wanted = true;
    await expect.poll(() => followed === 2 && lines > quiet).toBe(true);
    abort.abort();
    await following;
    expect(l.lines.filter((x) => x.startsWith("warn"))).toEqual([]);
  });

  it("the guard ends the stream when the agent dies, even by SIGKILL", async () => {
    // A stand-in agent: a node process that starts a stream under the guard and prints the guard's pid.
    const script = `const c = require("node:child_process").spawn("/bin/sh", ["-c", ${JSON.stringify(STREAM_GUARD)}, "sh", "/bin/sleep", "300"], { stdio: ["pipe", "ignore", "ignore"] }); console.log(c.pid);`;
    const agent = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "ignore"] });
    const guard = Number(await new Promise<string>((r) => agent.stdout!.setEncoding("utf8").once("data", r)));
    const children = () => readFileSync(`/proc/${guard}/task/${guard}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
    await expect.poll(() => children().some((pid) => readFileSync(`/proc/${pid}/cmdline`, "utf8").startsWith("/bin/sleep"))).toBe(true);
    const sleep = children().find((pid) => readFileSync(`/proc/${pid}/cmdline`, "utf8").startsWith("/bin/sleep"))!;
    agent.kill("SIGKILL");
    await expect.poll(() => existsSync(`/proc/${sleep}`) && !readFileSync(`/proc/${sleep}/stat`, "utf8").includes(") Z "), { timeout: 5000 }).toBe(false);
  });
});
