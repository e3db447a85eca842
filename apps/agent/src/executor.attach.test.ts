import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { CniRuntime, ProcessRun, Spawner } from "@switchyard/cni";
import { afterEach, describe, expect, it } from "vitest";
import { recordingLogger, tempDir } from "../test/fakes";
import { type JobLine, OperationPayload, executeOperation } from "./executor";
import { createIntentJournal } from "./intents";

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
