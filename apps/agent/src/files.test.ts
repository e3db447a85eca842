import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { writeFileAtomic } from "@switchyard/cni";
import { tempDir } from "../test/fakes";
import { removeWriteLeftovers } from "./files";

describe("removeWriteLeftovers", () => {
  const dirs: { remove(): void }[] = [];
  afterEach(() => dirs.splice(0).forEach((d) => d.remove()));

  it("removes the temp files a killed agent's writes left (data dir, intents, reports) and nothing else", async () => {
    const dir = tempDir();
    dirs.push(dir);
    const data = dir.path;
    for (const sub of ["intents", "reports"]) mkdirSync(join(data, sub));
    // What a SIGKILL between writeFileAtomic's write and its rename leaves, next to real files.
    const leftovers = [join(data, ".4e1-0.tmp"), join(data, "intents", ".1247-e.tmp"), join(data, "reports", ".a0-1f.tmp")];
    for (const f of leftovers) writeFileSync(f, "{");
    await writeFileAtomic(join(data, "intents", "att-1.json"), "{}");
    await writeFileAtomic(join(data, "credential.json"), "{}");
    writeFileSync(join(data, "reports", "op-1.json"), "{}");
    writeFileSync(join(data, "notes.tmp"), "not ours");

    expect(removeWriteLeftovers(data).sort()).toEqual([...leftovers].sort());
    for (const f of leftovers) expect(existsSync(f)).toBe(false);
    expect(readdirSync(join(data, "intents"))).toEqual(["att-1.json"]);
    expect(readdirSync(join(data, "reports"))).toEqual(["op-1.json"]);
    expect(readdirSync(data).sort()).toEqual(["credential.json", "intents", "notes.tmp", "reports"]);
  });

  it("is fine with a data dir that has nothing yet", () => {
    const dir = tempDir();
    dirs.push(dir);
    expect(removeWriteLeftovers(join(dir.path, "missing"))).toEqual([]);
  });
});
