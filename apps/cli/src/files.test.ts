import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CliError } from "./exit";
import { fileKind, isSafeExportPath, readTeamFiles, writeExport } from "./files";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "switchyard-cli-files-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const thrown = (fn: () => unknown): CliError => {
  try {
    fn();
  } catch (e) {
    if (e instanceof CliError) return e;
    throw e;
  }
  throw new Error("expected a CliError");
};

describe("which files are the team's", () => {
  it("top-level conflists, confs and json are networks; services/*.json services; the rest not", () => {
    expect(fileKind("10-lab.conflist")).toBe("network");
    expect(fileKind("99-one.conf")).toBe("network");
    expect(fileKind("lab.json")).toBe("network");
    expect(fileKind("services/web.json")).toBe("service");
    expect(fileKind("README.md")).toBeNull();
    expect(fileKind(".hidden.conflist")).toBeNull();
    expect(fileKind("nested/10-lab.conflist")).toBeNull();
    expect(fileKind("services/web.conflist")).toBeNull();
  });

  it("reads a directory in name order and says what it ignored", () => {
    mkdirSync(join(dir, "services"));
    mkdirSync(join(dir, ".git"));
    writeFileSync(join(dir, "20-b.conflist"), "B");
    writeFileSync(join(dir, "10-a.conf"), "A");
    writeFileSync(join(dir, "README.md"), "r");
    writeFileSync(join(dir, "services", "web.json"), "W");
    writeFileSync(join(dir, "services", "notes.txt"), "n");
    const { files, ignored } = readTeamFiles([dir]);
    expect(files).toEqual([
      { path: "10-a.conf", text: "A" },
      { path: "20-b.conflist", text: "B" },
      { path: "services/web.json", text: "W" },
    ]);
    expect(ignored.sort()).toEqual([join(dir, ".git/"), join(dir, "README.md"), join(dir, "services", "notes.txt")].sort());
    // a single file, by its own name; inside services/ a service
    expect(readTeamFiles([join(dir, "services", "web.json")]).files).toEqual([{ path: "services/web.json", text: "W" }]);
    expect(readTeamFiles([join(dir, "20-b.conflist")]).files).toEqual([{ path: "20-b.conflist", text: "B" }]);
  });

  it("refuses, before reading, a file over 1 MiB, and names every problem at once", () => {
    writeFileSync(join(dir, "10-ok.conflist"), "{}");
    writeFileSync(join(dir, "50-huge.conflist"), "");
    truncateSync(join(dir, "50-huge.conflist"), 50 * 1024 * 1024);
    writeFileSync(join(dir, "60-latin1.conflist"), Buffer.from([0x7b, 0xe9, 0x7d]));
    writeFileSync(join(dir, "README.md"), "r");
    const e = thrown(() => readTeamFiles([dir, join(dir, "missing.conflist"), join(dir, "README.md")]));
    expect(e.exitCode).toBe(1);
    expect(e.message).toBe("nothing was sent: 4 files are not usable");
    expect(e.details).toEqual([
      `${join(dir, "50-huge.conflist")}: 50.0 MiB is over the limit of 1.0 MiB for a network or service file`,
      `${join(dir, "60-latin1.conflist")}: not UTF-8 text`,
      `${join(dir, "missing.conflist")}: no such file or directory`,
      `${join(dir, "README.md")}: not a network file (*.conflist, *.conf, *.json) nor a service file (services/*.json)`,
    ]);
    // exactly 1 MiB is allowed
    truncateSync(join(dir, "50-huge.conflist"), 1024 * 1024);
    rmSync(join(dir, "60-latin1.conflist"));
    expect(readTeamFiles([dir]).files.map((f) => f.path)).toEqual(["10-ok.conflist", "50-huge.conflist"]);
  });

  it("refuses the same path given twice", () => {
    writeFileSync(join(dir, "10-a.conflist"), "A");
    const e = thrown(() => readTeamFiles([dir, join(dir, "10-a.conflist")]));
    expect(e.details[0]).toContain("is read as 10-a.conflist too");
  });
});

describe("export", () => {
  it("writes atomically, keeps other files, leaves identical files alone and names the ones not from the console", () => {
    writeFileSync(join(dir, "README.md"), "ours");
    writeFileSync(join(dir, "05-local.conflist"), "local");
    const first = writeExport(dir, [
      { path: "10-lab.conflist", text: "lab\n" },
      { path: "services/web.json", text: "{}\n" },
    ]);
    expect(first).toEqual({ written: ["10-lab.conflist", "services/web.json"], unchanged: [], notFromConsole: ["05-local.conflist"] });
    expect(readFileSync(join(dir, "README.md"), "utf8")).toBe("ours");
    expect(readFileSync(join(dir, "10-lab.conflist"), "utf8")).toBe("lab\n");
    const second = writeExport(dir, [{ path: "10-lab.conflist", text: "lab\n" }]);
    expect(second.unchanged).toEqual(["10-lab.conflist"]);
    expect(readdirSync(dir).filter((f) => f.includes(".tmp"))).toEqual([]);
  });

  it("writes nothing when the console names a file outside the directory", () => {
    for (const p of ["../x.conflist", "/etc/passwd", "services/../../x.json", "a/b.conflist", "", "services/.json/..", "x.sh"]) expect(isSafeExportPath(p)).toBe(false);
    const e = thrown(() => writeExport(dir, [{ path: "10-ok.conflist", text: "" }, { path: "../evil.conflist", text: "" }]));
    expect(e.exitCode).toBe(1);
    expect(readdirSync(dir)).toEqual([]);
  });
});
