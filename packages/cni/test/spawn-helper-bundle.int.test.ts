/**
 * The spawn helper of a single-file bundle (tooling/bundle.mjs) runs its own small script and
 * nothing of the program: a program built here that records each process evaluating it, run with
 * `node`, starts a process through createHelperSpawner(); only the program's own process may have
 * evaluated it, and the helper is `node - spawner-child`: its code came on its stdin, it never read
 * the bundle (the agent's helper was ~48 MB when it was the whole bundle run again, ~44 MB now).
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
// @ts-expect-error: plain JavaScript, no declarations
import { bundleProgram } from "../../../tooling/bundle.mjs";

const run = promisify(execFile);
const SPAWNER = fileURLToPath(new URL("../src/exec/spawner.ts", import.meta.url));

describe("the spawn helper of a bundle", { timeout: 60_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), "sytest-helper-bundle-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("evaluates only its own script, not the program it was built into", async () => {
    writeFileSync(
      join(dir, "entry.mjs"),
      `import { appendFileSync, readFileSync } from "node:fs";
import { createHelperSpawner } from ${JSON.stringify(SPAWNER)};
// Evaluated by every process that evaluates the program.
appendFileSync(process.env.EVALUATED_BY, process.pid + "\\n");
export async function main() {
  const helper = createHelperSpawner();
  const out = await helper.run({ file: "sh", args: ["-c", "echo $PPID"], env: { PATH: process.env.PATH }, timeoutMs: 10000, maxStdoutBytes: 100, maxStderrBytes: 100 });
  const helperPid = Number(out.stdout.trim());
  const argv = readFileSync("/proc/" + helperPid + "/cmdline", "utf8").split("\\0").filter(Boolean);
  helper.close();
  process.stdout.write(JSON.stringify({ pid: process.pid, helperPid, argv, exitCode: out.exitCode }));
  return 0;
}`,
    );
    await bundleProgram({ packageDir: dir, entry: "entry.mjs", outfile: "program.mjs", run: "process.exit(await main());" });
    const evaluatedBy = join(dir, "evaluated-by");
    writeFileSync(evaluatedBy, "");
    const { stdout } = await run(process.execPath, [join(dir, "program.mjs")], { env: { PATH: process.env.PATH, EVALUATED_BY: evaluatedBy }, timeout: 30_000 });
    const result = JSON.parse(stdout) as { pid: number; helperPid: number; argv: string[]; exitCode: number };
    expect(result.exitCode).toBe(0);
    expect(result.helperPid).not.toBe(result.pid);
    expect(result.argv).toEqual([process.execPath, "-", "spawner-child"]);
    expect(readFileSync(evaluatedBy, "utf8").trim().split("\n").map(Number)).toEqual([result.pid]);
  });
});
