import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { type CniRuntime, type ProcessRun, type Spawner, inProcessSpawner } from "@switchyard/cni";
import { afterEach, describe, expect, it } from "vitest";
import { recordingLogger, tempDir } from "../test/fakes";
import { type JobLine, OperationPayload, executeOperation } from "./executor";
import { createIntentJournal } from "./intents";
import { createPluginHold } from "./plugin-hold";

const dirs: { remove(): void }[] = [];
afterEach(() => dirs.splice(0).forEach((d) => d.remove()));

// A sandbox name no host has: ensureSandbox finds it absent in /run/netns and asks the spawner to make it.
const sandbox = `sy-unit-${process.pid}`;
const payload = OperationPayload.parse({
  operationId: "op1",
  attempt: 1,
  kind: "attach",
  generation: 1,
  attachment: { id: "att1", containerId: "c1", ifName: "eth0", targetKind: "sandbox", target: sandbox, capabilityArgs: {}, networkName: "net1", networkRevision: 1 },
  conflist: { cniVersion: "1.0.0", name: "net1", plugins: [{ type: "bridge", ipam: {} }] },
});

/**
 * The executor over a real intent journal in a temp dir; `ip` and the plugins are recorders (the
 * real ones run in test/agent.int.test.ts). Each step notes whether the intent was on disk then.
 */
function setup() {
  const dir = tempDir();
  dirs.push(dir);
  const intentFile = join(dir.path, "intents", "att1.json");
  const intentOnDisk = () => existsSync(intentFile) && JSON.parse(readFileSync(intentFile, "utf8")).operationId === "op1";
  const steps: { step: string; intentOnDisk: boolean }[] = [];
  const ok: ProcessRun = { stdout: "", stderr: "", exitCode: 0, signal: null, timedOut: false, durationMs: 1 };
  const spawner: Spawner = {
    run: async (spec) => (steps.push({ step: `${spec.file} ${(spec.args ?? []).join(" ")}`, intentOnDisk: intentOnDisk() }), ok),
    close: () => {},
  };
  const runtime = {
    getCachedResult: async () => null,
    addNetworkList: async () => (steps.push({ step: "ADD", intentOnDisk: intentOnDisk() }), { cniVersion: "1.0.0", ips: [{ address: "10.1.0.2/16" }] }),
    delNetworkList: async () => void steps.push({ step: "DEL", intentOnDisk: intentOnDisk() }),
  } as unknown as CniRuntime;
  const lines: JobLine[] = [];
  const run = () => executeOperation({ runtime, spawner, netnsDir: "/run/netns", intents: createIntentJournal(dir.path), log: recordingLogger() }, payload, (l) => void lines.push(l));
  return { dir, steps, lines, run };
}

describe("an attach's intent record", () => {
  it("is on disk before the plugin runs; the sandbox is made while it is written", async () => {
    const s = setup();
    expect(await s.run()).toMatchObject({ outcome: "succeeded" });
    expect(s.steps.map((x) => x.step)).toEqual([`ip netns add ${sandbox}`, "ADD", `ip -n ${sandbox} link set lo up`]);
    expect(s.steps.find((x) => x.step === "ADD")).toEqual({ step: "ADD", intentOnDisk: true });
    expect(s.lines.map((l) => l.line)).toContain(`sandbox namespace ${sandbox}: created`);
  });

  it("that cannot be written fails the attach before any plugin runs", async () => {
    const s = setup();
    // A file where the journal's directory should be: the intent cannot be written.
    writeFileSync(join(s.dir.path, "intents"), "");
    const outcome = await s.run();
    expect(outcome).toMatchObject({ outcome: "failed" });
    expect(outcome.error).toContain(join(s.dir.path, "intents", "att1.json"));
    expect(s.steps.map((x) => x.step).filter((x) => x === "ADD" || x === "DEL")).toEqual([]);
  });
});

/**
 * With holdPlugins (as the agent runs): the runtime is called at once and its plugin started, but a
 * real process that reads its input first (as a CNI plugin does) gets it only once the intent is
 * on disk — it checks for the file itself.
 */
function setupHeld(target: { targetKind: "sandbox" | "netns"; target: string }) {
  const dir = tempDir();
  dirs.push(dir);
  const intentFile = join(dir.path, "intents", "att1.json");
  const hold = createPluginHold(inProcessSpawner);
  const said: string[] = [];
  const spawner: Spawner = { run: async (spec) => (said.push(`${spec.file} ${(spec.args ?? []).join(" ")}`), { stdout: "", stderr: "", exitCode: 0, signal: null, timedOut: false, durationMs: 1 }), close: () => {} };
  const runtime = {
    getCachedResult: async () => null,
    addNetworkList: async () => {
      const run = await hold.spawner.run({ file: "sh", args: ["-c", `read x; test -f ${intentFile} && echo "$x: intent on disk" || echo "$x: no intent"`], env: { PATH: process.env.PATH ?? "/usr/bin:/bin" }, stdin: "config\n", timeoutMs: 10_000, maxStdoutBytes: 1000, maxStderrBytes: 1000 });
      if (run.spawnError) throw new Error(`plugin not run: ${run.spawnError.code}`);
      said.push(run.stdout.trim());
      return { cniVersion: "1.0.0", ips: [{ address: "10.1.0.2/16" }] };
    },
    delNetworkList: async () => {},
  } as unknown as CniRuntime;
  const op = OperationPayload.parse({ ...payload, attachment: { ...payload.attachment, ...target } });
  // A slow disk: the plugin is started long before the intent is durable.
  const journal = createIntentJournal(dir.path);
  const intents = { ...journal, write: (intent: Parameters<typeof journal.write>[0]) => sleep(300).then(() => journal.write(intent)) };
  const run = () => executeOperation({ runtime, spawner, netnsDir: "/run/netns", intents, log: recordingLogger(), holdPlugins: hold.until }, op, () => {});
  return { dir, said, run };
}

describe("an attach's plugin, held until the intent is durable (holdPlugins)", () => {
  it.each([
    ["netns", { targetKind: "netns" as const, target: "some-container" }],
    ["sandbox", { targetKind: "sandbox" as const, target: sandbox }],
  ])("gets its input only once the intent is on disk (%s)", async (_name, target) => {
    const s = setupHeld(target);
    expect(await s.run()).toMatchObject({ outcome: "succeeded" });
    expect(s.said).toContain("config: intent on disk");
  });

  it("is killed unfed when the intent cannot be written, and the attach fails with the intent's error", async () => {
    const s = setupHeld({ targetKind: "netns", target: "some-container" });
    writeFileSync(join(s.dir.path, "intents"), "");
    const outcome = await s.run();
    expect(outcome).toMatchObject({ outcome: "failed" });
    expect(outcome.error).toContain(join(s.dir.path, "intents", "att1.json"));
    expect(s.said.filter((l) => l.startsWith("config"))).toEqual([]);
  });
});
