/**
 * Networks deployed to a conf dir on a real file system (issue 16 §1–2): byte-identical files the
 * CNI loader reads, new revisions, drift under both policies, conflicts with files the agent did
 * not write, undeploy, a read-only conf dir (a real read-only mount), and refused input.
 */
import { execFileSync } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadConfDir } from "@switchyard/cni";
import { type ConfDirDeployer, MANIFEST_FILE, createConfDirDeployer } from "../src/confdir/deploy";
import type { DeployWant } from "../src/confdir/plan";
import type { Logger } from "../src/log";
import { tempDir } from "./fakes";

const isRoot = process.getuid?.() === 0;

const conflist = (network: string, bridge: string) =>
  `{\n  "cniVersion": "1.0.0",\n  "name": "${network}",\n  "plugins": [\n    { "type": "bridge", "bridge": "${bridge}", "ipam": { "type": "host-local", "subnet": "10.77.0.0/24" } }\n  ]\n}\n`;
const want = (network: string, revision: number, drift: DeployWant["drift"] = "restore"): DeployWant => ({ network, revision, conflist: conflist(network, `sy-${network}-${revision}`), drift });

/** Every file of the conf dir with its bytes: what "untouched" is checked against. */
const snapshot = (dir: string) => Object.fromEntries(readdirSync(dir).map((n) => [n, readFileSync(join(dir, n), "utf8")]));

describe("conf dir deployment on a real file system", () => {
  let root: { path: string; remove(): void };
  let confDir: string;
  let dataDir: string;
  let logged: { level: string; msg: string; fields?: Record<string, unknown> }[];
  let deployer: ConfDirDeployer;
  const podman = `{"cniVersion":"0.4.0","name":"podman","plugins":[{"type":"bridge","bridge":"cni-podman0","ipam":{"type":"host-local","subnet":"10.88.0.0/16"}}]}\n`;

  beforeEach(() => {
    root = tempDir();
    confDir = join(root.path, "net.d");
    dataDir = join(root.path, "data");
    mkdirSync(confDir);
    mkdirSync(dataDir);
    // What a host already has: podman's default network and an operator's own file.
    writeFileSync(join(confDir, "87-podman-bridge.conflist"), podman);
    writeFileSync(join(confDir, "10-mine.conf"), `{"cniVersion":"0.4.0","name":"mine","type":"bridge","ipam":{}}`);
    logged = [];
    const log: Logger = Object.fromEntries(["debug", "info", "warn", "error"].map((level) => [level, (msg: string, fields?: Record<string, unknown>) => logged.push({ level, msg, fields })])) as unknown as Logger;
    deployer = createConfDirDeployer({ confDir, dataDir, log });
  });
  afterEach(() => root.remove());

  it("deploys byte for byte, rolls a new revision, and undeploys, leaving other files untouched", async () => {
    const others = snapshot(confDir);
    const first = await deployer.apply([want("lab", 1)]);
    expect(first.error).toBeUndefined();
    expect(first.actions.map((a) => [a.kind, a.network, a.error])).toEqual([["create", "lab", undefined]]);
    const file = join(confDir, "50-switchyard-lab.conflist");
    expect(readFileSync(file, "utf8")).toBe(want("lab", 1).conflist);
    expect(statSync(file).mode & 0o777).toBe(0o644);
    // What a runtime's loader makes of the dir: the network is there, by its file.
    const loaded = await loadConfDir(confDir);
    expect(loaded.networks.map((n) => n.name).sort()).toEqual(["lab", "mine", "podman"]);

    // The plan of a new revision, shown before it is carried out, changes nothing.
    const plan = await deployer.plan([want("lab", 2)]);
    expect(plan.actions).toMatchObject([{ kind: "update", fromRevision: 1, revision: 2 }]);
    expect(readFileSync(file, "utf8")).toBe(want("lab", 1).conflist);
    await deployer.apply([want("lab", 2)]);
    expect(readFileSync(file, "utf8")).toBe(want("lab", 2).conflist);
    expect((await deployer.apply([want("lab", 2)])).actions.map((a) => a.kind)).toEqual(["keep"]);

    const removed = await deployer.apply([]);
    expect(removed.actions.map((a) => [a.kind, a.network])).toEqual([["remove", "lab"]]);
    expect(existsSync(file)).toBe(false);
    expect(snapshot(confDir)).toEqual(others);
    expect(JSON.parse(readFileSync(join(dataDir, MANIFEST_FILE), "utf8"))).toEqual({});
  });

  it("a hand edit is drift: restored under the restore policy, left and reported with its diff under warn", async () => {
    await deployer.apply([want("lab", 1), want("web", 1, "warn")]);
    const lab = join(confDir, "50-switchyard-lab.conflist");
    const web = join(confDir, "50-switchyard-web.conflist");
    writeFileSync(lab, want("lab", 1).conflist.replace("sy-lab-1", "by-hand"));
    writeFileSync(web, want("web", 1).conflist.replace("sy-web-1", "by-hand"));

    const drift = await deployer.plan([want("lab", 1), want("web", 1, "warn")]);
    expect(drift.actions).toMatchObject([
      { kind: "restore", network: "lab", change: "edited" },
      { kind: "drifted", network: "web", change: "edited" },
    ]);
    for (const a of drift.actions) expect("diff" in a && a.diff).toMatch(/-.*"bridge": "sy-(lab|web)-1"[\s\S]*\+.*"bridge": "by-hand"/);

    const applied = await deployer.apply([want("lab", 1), want("web", 1, "warn")]);
    expect(applied.actions.map((a) => a.kind)).toEqual(["restore", "drifted"]);
    expect(readFileSync(lab, "utf8")).toBe(want("lab", 1).conflist);
    expect(readFileSync(web, "utf8")).toContain("by-hand");
    expect(logged.some((l) => l.level === "warn" && l.fields?.network === "web")).toBe(true);

    // Deleted by hand: restored under restore; under warn reported as deleted.
    unlinkSync(lab);
    unlinkSync(web);
    const again = await deployer.apply([want("lab", 1), want("web", 1, "warn")]);
    expect(again.actions).toMatchObject([{ kind: "restore", change: "deleted" }, { kind: "drifted", change: "deleted" }]);
    expect(readFileSync(lab, "utf8")).toBe(want("lab", 1).conflist);
    expect(existsSync(web)).toBe(false);
  });

  it("never overwrites a file it did not write: a network of the same name elsewhere, or its own file name taken", async () => {
    writeFileSync(join(confDir, "20-lab.conflist"), conflist("lab", "operators-own"));
    writeFileSync(join(confDir, "50-switchyard-web.conflist"), conflist("web", "hand-made"));
    const before = snapshot(confDir);
    const report = await deployer.apply([want("lab", 1), want("web", 1)]);
    expect(report.actions).toMatchObject([
      { kind: "conflict", network: "lab", with: ["20-lab.conflist"] },
      { kind: "conflict", network: "web", with: ["50-switchyard-web.conflist"] },
    ]);
    expect(snapshot(confDir)).toEqual(before);
    // Nor removes one: leaving the host, a file it never wrote stays.
    await deployer.apply([]);
    expect(snapshot(confDir)).toEqual(before);
  });

  it("does not read through a symlink put at its file's name: no other file's text in a diff, the target untouched", async () => {
    await deployer.apply([want("lab", 1, "warn")]);
    const file = join(confDir, "50-switchyard-lab.conflist");
    const secret = join(root.path, "secret");
    writeFileSync(secret, "root:$6$not-for-the-console\n");
    unlinkSync(file);
    symlinkSync(secret, file);
    const warned = await deployer.apply([want("lab", 1, "warn")]);
    expect(JSON.stringify(warned)).not.toContain("not-for-the-console");
    expect(warned.actions).toMatchObject([{ kind: "drifted", change: "deleted" }]);
    // Restored: the link itself is replaced by the agent's file; what it pointed at is unchanged.
    const restored = await deployer.apply([want("lab", 1, "restore")]);
    expect(restored.actions.map((a) => [a.kind, a.error])).toEqual([["restore", undefined]]);
    expect(lstatSync(file).isFile()).toBe(true);
    expect(readFileSync(file, "utf8")).toBe(want("lab", 1).conflist);
    expect(readFileSync(secret, "utf8")).toBe("root:$6$not-for-the-console\n");
  });

  it("refuses bad input whole, with the reason, and changes nothing", async () => {
    await deployer.apply([want("lab", 1)]);
    const before = snapshot(confDir);
    const manifest = readFileSync(join(dataDir, MANIFEST_FILE), "utf8");
    const bad: DeployWant[][] = [
      [{ ...want("lab", 2), network: "../../etc/x" }],
      [{ ...want("lab", 2), conflist: conflist("other", "x") }],
      [{ ...want("lab", 2), conflist: "{ not json" }],
      [want("lab", 2), want("lab", 3)],
    ];
    for (const wants of bad) {
      const report = await deployer.apply(wants);
      expect(report.error).toMatch(/^refused, nothing changed: network /);
      expect(report.actions).toEqual([]);
    }
    expect(snapshot(confDir)).toEqual(before);
    expect(readFileSync(join(dataDir, MANIFEST_FILE), "utf8")).toBe(manifest);

    // A manifest that is not the agent's: nothing is looked at or done until it is fixed.
    writeFileSync(join(dataDir, MANIFEST_FILE), "{ cut short");
    const unreadable = await deployer.apply([]);
    expect(unreadable.error).toContain("is unreadable");
    expect(snapshot(confDir)).toEqual(before);
  });

  it.runIf(isRoot)("a read-only conf dir is a clear error per network and changes nothing", async () => {
    await deployer.apply([want("lab", 1)]);
    const before = snapshot(confDir);
    const manifest = readFileSync(join(dataDir, MANIFEST_FILE), "utf8");
    execFileSync("mount", ["--bind", confDir, confDir]);
    try {
      execFileSync("mount", ["-o", "remount,bind,ro", confDir]);
      const report = await deployer.apply([want("lab", 2), want("web", 1)]);
      expect(report.actions.map((a) => [a.kind, a.network])).toEqual([
        ["update", "lab"],
        ["create", "web"],
      ]);
      for (const a of report.actions) expect(a.error).toMatch(new RegExp(`^conf dir ${confDir} is not writable \\(EROFS`));
      expect(snapshot(confDir)).toEqual(before);
      expect(readFileSync(join(dataDir, MANIFEST_FILE), "utf8")).toBe(manifest);
    } finally {
      execFileSync("umount", [confDir]);
    }
    // Writable again: the next apply deploys both.
    const after = await deployer.apply([want("lab", 2), want("web", 1)]);
    expect(after.actions.map((a) => [a.kind, a.error])).toEqual([
      ["update", undefined],
      ["create", undefined],
    ]);
  });
});
