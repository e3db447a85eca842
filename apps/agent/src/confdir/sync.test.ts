import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { tempDir } from "../../test/fakes";
import type { Logger } from "../log";
import { createConfDirDeployer } from "./deploy";
import { type ConfDirReportBody, createConfDirSync } from "./sync";

const quiet: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };
const conflist = (bridge: string) => `{"cniVersion":"1.0.0","name":"lab","plugins":[{"type":"bridge","bridge":"${bridge}","ipam":{}}]}\n`;

describe("conf dir sync", () => {
  const dirs: { remove(): void }[] = [];
  afterEach(() => dirs.splice(0).forEach((d) => d.remove()));

  function setup() {
    const dir = tempDir();
    dirs.push(dir);
    const confDir = join(dir.path, "net.d");
    mkdirSync(confDir);
    let served: unknown[] = [{ network: "lab", revision: 1, conflist: conflist("a"), drift: "restore" }];
    let fetches = 0;
    let failNext = false;
    const reports: ConfDirReportBody[] = [];
    const sync = createConfDirSync({
      fetch: async () => {
        fetches++;
        if (failNext) throw ((failNext = false), new Error("console unreachable"));
        return { networks: served };
      },
      report: async (body) => reports.push(body),
      deployer: createConfDirDeployer({ confDir, dataDir: join(dir.path, "data"), log: quiet }),
      log: quiet,
    });
    return { sync, file: join(confDir, "50-switchyard-lab.conflist"), reports, fetches: () => fetches, serve: (w: unknown[]) => (served = w), failFetch: () => (failNext = true) };
  }

  it("a check applies the last fetched list without asking the console, and reports only what is new", async () => {
    const s = setup();
    await s.sync.refresh();
    expect(readFileSync(s.file, "utf8")).toBe(conflist("a"));
    expect(s.reports.map((r) => r.actions.map((a) => a.kind))).toEqual([["create"]]);
    await s.sync.check();
    await s.sync.check();
    expect(s.fetches()).toBe(1);
    // keep, keep: the same picture is not sent again
    expect(s.reports).toHaveLength(2);
    writeFileSync(s.file, conflist("by-hand"));
    await s.sync.check();
    expect(readFileSync(s.file, "utf8")).toBe(conflist("a"));
    expect(s.reports.at(-1)!.actions[0]).toMatchObject({ kind: "restore", change: "edited" });
    expect(s.fetches()).toBe(1);
  });

  it("no file contents go to the console; a failed fetch is fetched again at the next check", async () => {
    const s = setup();
    s.failFetch();
    await s.sync.refresh();
    expect(s.reports).toEqual([]);
    await s.sync.check();
    expect(s.fetches()).toBe(2);
    expect(JSON.stringify(s.reports)).not.toContain("content");
    expect(s.reports[0]!.actions[0]).toEqual({ kind: "create", network: "lab", file: "50-switchyard-lab.conflist", revision: 1 });
  });

  it("a host with nothing deployed sends no report; a refused list is reported as the error, nothing written", async () => {
    const s = setup();
    s.serve([]);
    await s.sync.refresh();
    expect(s.reports).toEqual([]);
    s.serve([{ network: "../../etc", revision: 1, conflist: conflist("a"), drift: "restore" }]);
    await s.sync.refresh();
    expect(s.reports).toHaveLength(1);
    expect(s.reports[0]!.error).toMatch(/^refused, nothing changed: network \.\.\/\.\.\/etc/);
  });
});
