import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { isDownloadName, readDownload } from "./agent-files";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

describe("the files the console hands to new hosts", () => {
  it("serves only its own names: nothing else of the directory, no path", () => {
    expect(isDownloadName("switchyard-agent.mjs")).toBe(true);
    expect(isDownloadName("switchyard-agent.service")).toBe(true);
    for (const name of ["package.json", "../switchyard-agent.mjs", "switchyard-agent.mjs.sha256", "toString", "__proto__"]) {
      expect(isDownloadName(name), name).toBe(false);
    }
  });

  it("says the agent is not there rather than failing, and serves a rebuilt agent with its new checksum", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "agent-dist-"));
    dirs.push(dir);
    expect(await readDownload(dir, "switchyard-agent.mjs")).toBeUndefined();

    const file = path.join(dir, "switchyard-agent.mjs");
    writeFileSync(file, "first build");
    const first = await readDownload(dir, "switchyard-agent.mjs");
    expect(first?.sha256).toBe(sha256("first build"));
    expect(first?.bytes.toString()).toBe("first build");

    writeFileSync(file, "second build, longer");
    utimesSync(file, new Date(), new Date(Date.now() + 5000));
    const second = await readDownload(dir, "switchyard-agent.mjs");
    expect(second?.sha256).toBe(sha256("second build, longer"));
    expect(second?.contentType).toMatch(/^text\/javascript/);
  });
});
