import { describe, expect, it } from "vitest";
import { describeFailure, inNetns, ipNetnsArgs, runCommand } from "./command";

describe("runCommand", () => {
  it("reports a missing tool instead of throwing", async () => {
    const r = await runCommand("switchyard-no-such-tool", ["x"]);
    expect(r).toMatchObject({ isMissing: true, code: null });
    expect(describeFailure("switchyard-no-such-tool", ["x"], r)).toMatch(/^switchyard-no-such-tool x is not installed/);
  });

  it("returns a non-zero exit with stderr, bounds output, and kills at the timeout", async () => {
    const failed = await runCommand(process.execPath, ["-e", "console.error('bad value'); process.exit(3)"]);
    expect(failed).toMatchObject({ code: 3, isMissing: false, timedOut: false });
    expect(failed.stderr.trim()).toBe("bad value");
    const big = await runCommand(process.execPath, ["-e", "process.stdout.write('x'.repeat(100000))"], { maxOutputBytes: 1000 });
    expect(big.stdout).toHaveLength(1000);
    const slow = await runCommand(process.execPath, ["-e", "setTimeout(() => {}, 10000)"], { timeoutMs: 200 });
    expect(slow).toMatchObject({ timedOut: true, signal: "SIGKILL" });
  });

  it("passes input on stdin", async () => {
    const r = await runCommand(process.execPath, ["-e", "process.stdin.pipe(process.stdout)"], { input: "route add 10.0.0.0/8\n" });
    expect(r.stdout).toBe("route add 10.0.0.0/8\n");
  });
});

describe("namespace arguments", () => {
  it("builds argv for a namespace or the host, and refuses names that are not namespace names", () => {
    expect(ipNetnsArgs(undefined)).toEqual([]);
    expect(ipNetnsArgs("sytest-1")).toEqual(["-n", "sytest-1"]);
    expect(inNetns("sytest-1", "conntrack", ["-L"])).toEqual(["ip", ["netns", "exec", "sytest-1", "conntrack", "-L"]]);
    expect(inNetns(undefined, "conntrack", ["-L"])).toEqual(["conntrack", ["-L"]]);
    for (const bad of ["-n", "../x", "a/b", "", "a b", "x\ny", ".hidden"]) expect(() => ipNetnsArgs(bad)).toThrow(/namespace name/);
  });
});
