import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ProxyConfig } from "@switchyard/dataplane/proxy";
import { afterEach, describe, expect, it, vi } from "vitest";
import { recordingLogger, tempDir, useFakeTime } from "../../test/fakes";
import { createProxySupervisor } from "./proxy";

afterEach(() => void vi.useRealTimers());

/** Lets real I/O (a child's start and exit) run until `done()` holds; the fake timers stand still meanwhile. */
async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 20_000 && !done(); i++) await new Promise<void>((r) => setImmediate(r));
}

describe("proxy supervisor", () => {
  it.each([
    // A crash loop keeps its growing pause though the wall clock jumped two hours while the proxy ran.
    ["forward two hours during a quick crash: the pause keeps growing", 2 * 3600_000, 0, 400],
    // A proxy that ran a minute and more starts over from the short pause though the wall clock went back an hour.
    ["back an hour while it ran 61 s: the pause starts over", -3600_000, 61_000, 100],
  ])("the wall clock steps %s", async (_case, stepMs, runsMs, expectedPause) => {
    useFakeTime(vi);
    const dir = tempDir();
    // A stand-in proxy that runs until it is killed (the real one: proxy.int.test.ts).
    const script = join(dir.path, "proxy.cjs");
    writeFileSync(script, "setInterval(() => {}, 1 << 30);\n");
    const log = recordingLogger();
    const supervisor = createProxySupervisor({ log, command: { script, args: [] } });
    const pauses = () => log.lines.filter((l) => l.msg === "proxy: exited; restarting").map((l) => l.fields.inMs);
    const crash = async () => {
      const before = pauses().length;
      process.kill(supervisor.pid()!, "SIGKILL");
      await until(() => pauses().length > before);
    };
    try {
      void supervisor.apply({ version: 1, listeners: [{ address: "10.241.0.10", port: 80 }] } as unknown as ProxyConfig);
      await crash();
      await vi.advanceTimersByTimeAsync(100);
      await crash();
      await vi.advanceTimersByTimeAsync(200);
      expect(pauses()).toEqual([100, 200]);
      vi.setSystemTime(Date.now() + stepMs); // the wall clock only: timers and performance.now() run on
      await vi.advanceTimersByTimeAsync(runsMs);
      await crash();
      expect(pauses()).toEqual([100, 200, expectedPause]);
    } finally {
      const stopped = supervisor.stop(0);
      await vi.advanceTimersByTimeAsync(1);
      await stopped;
      dir.remove();
    }
  });
});
