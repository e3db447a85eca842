import { join } from "node:path";
import { type Spawner, inProcessSpawner } from "@switchyard/cni";
import { afterEach, describe, expect, it } from "vitest";
import { recordingLogger, tempDir } from "../test/fakes";
import { createAgent } from "./agent";
import { parseConfig } from "./config";

const dirs: { remove(): void }[] = [];
afterEach(() => dirs.splice(0).forEach((d) => d.remove()));

/** An agent that cannot start (no credential, no join token): its run fails at once and it stops, closing what it owns. */
function unenrolledAgent(spawner?: Spawner) {
  const dir = tempDir();
  dirs.push(dir);
  const config = parseConfig(
    ["--console-url", "http://127.0.0.1:9", "--data-dir", join(dir.path, "data"), "--cache-dir", join(dir.path, "cache"), "--conf-dir", join(dir.path, "net.d"), "--services", "off"],
    {},
    "agent-test",
  );
  return createAgent(config, recordingLogger(), undefined, spawner ? { spawner } : {});
}

describe("createAgent's options", () => {
  it("leaves a spawner it was given running when it stops: the agents sharing it in one process go on (bench/fleet.ts)", async () => {
    let closed = 0;
    const shared: Spawner = { run: inProcessSpawner.run, close: () => void closed++ };
    const first = unenrolledAgent(shared);
    await expect(first.run()).rejects.toThrow(/not enrolled/);
    await first.stop();
    expect(closed).toBe(0);
    // Still usable by the next agent of the process.
    const run = await shared.run({ file: "true", args: [], env: { PATH: process.env.PATH ?? "/usr/bin:/bin" }, timeoutMs: 5000, maxStdoutBytes: 1024, maxStderrBytes: 1024 });
    expect(run.exitCode).toBe(0);
  });
});
