import { execFile, spawn } from "node:child_process";
import { readFileSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { createPluginDir, isProcessAlive } from "../../test/fixtures/harness";
import { CniError } from "../errors";
import { buildPluginEnv } from "./env";
import { execPlugin } from "./invoke";
import { createHelperSpawner, inProcessSpawner } from "./spawner";

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL("../../../..", import.meta.url));
const dirs: ReturnType<typeof createPluginDir>[] = [];
afterEach(() => dirs.splice(0).forEach((d) => d.cleanup()));

const spec = (file: string, extra: object = {}) => ({ file, env: { PATH: process.env.PATH ?? "/usr/bin:/bin" }, timeoutMs: 10_000, maxStdoutBytes: 1 << 20, maxStderrBytes: 1 << 16, ...extra });

async function waitFor<T>(fn: () => T | undefined, ms = 5000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("the spawn helper", { timeout: 30_000 }, () => {
  it("runs a command with arguments, stdin and the exact environment it is given", async () => {
    const helper = createHelperSpawner();
    try {
      const out = await helper.run(spec("sh", { args: ["-c", 'read x; echo "$x $FOO $HOME"; echo err >&2; exit 3'], env: { PATH: process.env.PATH!, FOO: "bar" }, stdin: "hello\n" }));
      // HOME is not passed on: only the given environment.
      expect(out).toMatchObject({ stdout: "hello bar \n", stderr: "err\n", exitCode: 3, timedOut: false });
      const missing = await helper.run(spec("/nonexistent/x"));
      expect(missing.spawnError?.code).toBe("ENOENT");
    } finally {
      helper.close();
    }
  });

  it("a helper that dies mid-call ends the call as 'no answer' (outcome unknown), and the next call starts a new one", async () => {
    const d = createPluginDir();
    dirs.push(d);
    const path = d.install("slow", { ADD: { sleepMs: 30_000 }, DEL: {} });
    const helper = createHelperSpawner();
    const env = buildPluginEnv({ verb: "ADD", pluginDirs: [d.dir], containerId: "c1", netns: "/run/netns/x", ifName: "eth0" });
    try {
      const pending = execPlugin({ pluginPath: path, verb: "ADD", env, stdin: "{}", timeoutMs: 20_000, spawner: helper }).catch((e: unknown) => e);
      const call = await waitFor(() => d.calls("slow")[0]);
      expect(call.ppid).not.toBe(process.pid);
      process.kill(call.ppid, "SIGKILL");
      const error = (await pending) as CniError;
      expect(error).toBeInstanceOf(CniError);
      expect(error.reason).toBe("timeout");
      expect(error.message).toContain("gave no answer");
      expect(error.details).toContain("spawn helper exited");
      process.kill(-call.pid, "SIGKILL");

      await execPlugin({ pluginPath: path, verb: "DEL", env: { ...env, CNI_COMMAND: "DEL" }, stdin: "{}", timeoutMs: 10_000, spawner: helper });
      const second = d.calls("slow")[1]!;
      expect(second.ppid).not.toBe(call.ppid);
      expect(isProcessAlive(second.ppid)).toBe(true);
    } finally {
      helper.close();
    }
  });

  it("does not keep its parent alive when idle, and keeps it alive while a call runs", async () => {
    const script = `import { readdirSync } from "node:fs";
      import { createHelperSpawner } from ${JSON.stringify(join(ROOT, "packages/cni/src/exec/spawner.ts"))};
      const helper = createHelperSpawner();
      helper.run({ file: "sh", args: ["-c", "sleep 0.3; echo done"], env: { PATH: process.env.PATH }, timeoutMs: 5000, maxStdoutBytes: 100, maxStderrBytes: 100 }).then((r) => console.log(r.stdout.trim()));`;
    const started = Date.now();
    const { stdout } = await run(join(ROOT, "node_modules/.bin/tsx"), ["--eval", script], { timeout: 15_000 });
    expect(stdout.trim()).toBe("done");
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it("stops once idle for idleMs, never during a call, and the next call starts another that works", async () => {
    const helper = createHelperSpawner({ idleMs: 300 });
    const helperPid = async (script = "") => {
      const out = await helper.run(spec("sh", { args: ["-c", `${script}echo $PPID`] }));
      expect(out).toMatchObject({ exitCode: 0, timedOut: false });
      return Number(out.stdout.trim());
    };
    try {
      // A call that outlasts idleMs is not cut; calls closer together than idleMs share one helper.
      const first = await helperPid("sleep 0.6; ");
      await new Promise((r) => setTimeout(r, 100));
      expect(await helperPid()).toBe(first);
      expect(isProcessAlive(first)).toBe(true);
      await waitFor(() => (isProcessAlive(first) ? undefined : true), 5000);
      const second = await helperPid();
      expect(second).not.toBe(first);
      expect(isProcessAlive(second)).toBe(true);
    } finally {
      helper.close();
    }
  });

  it("a helper that was stopped ends only its own calls, not those of the next one", async () => {
    const helper = createHelperSpawner();
    try {
      await helper.run(spec("true"));
      helper.close();
      // The stopped helper's exit comes while this call runs in its successor.
      const out = await helper.run(spec("sh", { args: ["-c", "sleep 0.3; echo ok"] }));
      expect(out).toMatchObject({ stdout: "ok\n", exitCode: 0 });
      expect(out.spawnError).toBeUndefined();
    } finally {
      helper.close();
    }
  });

  it("exits when its parent is gone", async () => {
    const child = fileURLToPath(new URL("./spawner-child.mjs", import.meta.url));
    const code = `import { fork } from "node:child_process"; const c = fork(${JSON.stringify(child)}, [], { execArgv: [] }); process.send(c.pid);`;
    const parent = spawn(process.execPath, ["--input-type=module", "-e", code], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
    const helperPid = await new Promise<number>((resolve) => parent.once("message", (m) => resolve(m as number)));
    parent.kill("SIGKILL");
    expect(helperPid).toBeGreaterThan(0);
    await waitFor(() => (isProcessAlive(helperPid) ? undefined : true));
  });

  it("a parent killed while its helper is busy leaves no stack trace (no EPIPE from the helper's sends)", async () => {
    const d = createPluginDir();
    dirs.push(d);
    // Each process names its helper (its parent), then writes stderr without pause: the helper keeps
    // sending stderr events, so one meets the dead channel before "disconnect" does (3 of 3 before the fix).
    const script = `import { readdirSync } from "node:fs";
      import { createHelperSpawner } from ${JSON.stringify(join(ROOT, "packages/cni/src/exec/spawner.ts"))};
      const helper = createHelperSpawner();
      const args = ["-c", 'echo $PPID > "$1/helper.$$"; while :; do echo noise >&2; done', "sh", ${JSON.stringify(d.dir)}];
      for (let i = 0; i < 4; i++) void helper.run({ file: "sh", args, env: { PATH: process.env.PATH }, timeoutMs: 20000, maxStdoutBytes: 100, maxStderrBytes: 100 });
      // Killed once the helper is busy: the processes run and write.
      setInterval(() => {
        if (readdirSync(${JSON.stringify(d.dir)}).some((f) => f.startsWith("helper."))) setTimeout(() => process.kill(process.pid, "SIGKILL"), 100);
      }, 20);`;
    for (let round = 0; round < 3; round++) {
      // The helper writes on the stderr it shares with its parent: what a terminal or the journal would show.
      const parent = spawn(join(ROOT, "node_modules/.bin/tsx"), ["--eval", script], { stdio: ["ignore", "pipe", "pipe"] });
      let output = "";
      parent.stdout.on("data", (c: Buffer) => (output += c.toString()));
      parent.stderr.on("data", (c: Buffer) => (output += c.toString()));
      const closed = new Promise<void>((resolve) => parent.stderr.once("close", resolve));
      await new Promise((resolve) => parent.once("exit", resolve));
      const helperPids = [...new Set(readdirSync(d.dir).filter((f) => f.startsWith("helper.")).map((f) => Number(readFileSync(join(d.dir, f), "utf8"))))];
      expect(helperPids.length, output).toBeGreaterThan(0);
      // The helper goes too, and with it the last writer of the pipe.
      await waitFor(() => (helperPids.some(isProcessAlive) ? undefined : true));
      await closed;
      expect(output).not.toMatch(/EPIPE|Unhandled 'error'|\n\s+at /);
      for (const f of readdirSync(d.dir).filter((f) => f.startsWith("helper."))) {
        // Each died of SIGPIPE with the helper; a survivor is killed with its group.
        try {
          process.kill(-Number(f.slice("helper.".length)), "SIGKILL");
        } catch {
          // Gone.
        }
        rmSync(join(d.dir, f));
      }
    }
  });
});

describe.each([
  ["in process", () => ({ spawner: inProcessSpawner, close: () => {} })],
  ["through the helper", () => {
    const helper = createHelperSpawner();
    return { spawner: helper, close: () => helper.close() };
  }],
])("stdinAfter (%s)", { timeout: 30_000 }, (_name, make) => {
  // The process reads its stdin, then says when it got it: it can act only once the gate opened.
  const readThenStamp = spec("sh", { args: ["-c", 'read x; echo "$x $(date +%s%N)"'], stdin: "input\n" });

  it("starts the process at once and gives it its stdin only when the promise resolves", async () => {
    const { spawner, close } = make();
    try {
      let open!: () => void;
      let spawnedAt = 0;
      const gate = new Promise<void>((r) => (open = r));
      const calledAt = Date.now();
      const running = spawner.run({ ...readThenStamp, stdinAfter: gate }, { onSpawn: () => (spawnedAt = Date.now()) });
      await waitFor(() => (spawnedAt > 0 ? true : undefined));
      await new Promise((r) => setTimeout(r, 200));
      const openedAt = Date.now();
      open();
      const out = await running;
      expect(out).toMatchObject({ exitCode: 0 });
      const [word, stamp] = out.stdout.trim().split(" ");
      expect(word).toBe("input");
      expect(Number(stamp) / 1e6).toBeGreaterThanOrEqual(openedAt - 5);
      // The wait for the gate (≥ 200 ms after the start) is not the process's run time.
      expect(out.durationMs).toBeLessThan(Date.now() - calledAt - 150);
    } finally {
      close();
    }
  });

  it("kills the process before it got any input when the promise rejects (EABORTED)", async () => {
    const { spawner, close } = make();
    try {
      let fail!: (e: Error) => void;
      let spawned = false;
      const gate = new Promise<void>((_r, j) => (fail = j));
      const running = spawner.run({ ...readThenStamp, stdinAfter: gate }, { onSpawn: () => (spawned = true) });
      await waitFor(() => (spawned ? true : undefined));
      fail(new Error("the intent could not be written"));
      const out = await running;
      expect(out.stdout).toBe("");
      expect(out.spawnError).toEqual({ code: "EABORTED", message: "killed before it got its input: the intent could not be written" });
    } finally {
      close();
    }
  });
});
