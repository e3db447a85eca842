import type { DelOptions, NetworkConfigList, RuntimeConf } from "@switchyard/cni";
import { afterEach, describe, expect, it } from "vitest";
import { recordingLogger, tempDir } from "../test/fakes";
import { systemClock } from "./clock";
import { createGate } from "./gate";
import { type Intent, createIntentJournal } from "./intents";
import { createOwnedAttachments } from "./owned";
import { createReconciler } from "./reconcile";

// Reconcile's way out (issue 17) for an interrupted operation, whose fault (an agent killed in the
// middle of an operation on a config the plugins refuse) a unit test makes more reliably than a
// real run; the same way out for stale entries and GC runs for real in test/recovery.int.test.ts.
const conflist = (name: string, bridge: string) => ({ cniVersion: "1.0.0", name, plugins: [{ type: "bridge", bridge, ipam: {} }] });

const dirs: { remove(): void }[] = [];
afterEach(() => dirs.splice(0).forEach((d) => d.remove()));

/** The runtime's DEL fails unless it runs the "fixed" bridge with configSource given. */
function setup(current: { revision: number; conflist: Record<string, unknown> }[] | Error) {
  const dir = tempDir();
  dirs.push(dir);
  const dels: string[] = [];
  const asked: string[][] = [];
  const intents = createIntentJournal(dir.path);
  const log = recordingLogger();
  const reconciler = createReconciler({
    runtime: {
      delNetworkList: async (net: NetworkConfigList, rt: RuntimeConf, opts?: DelOptions) => {
        const bridge = String(net.plugins[0]?.config.bridge);
        dels.push(`${bridge} ${opts?.configSource ?? "cached"} ${rt.containerId}`);
        if (bridge !== "fixed" || opts?.configSource !== "given") throw new Error(`incompatible CNI versions (${bridge})`);
      },
      listCachedAttachments: async () => [],
      delCachedAttachment: async () => {},
      gcNetworkList: async () => {},
    },
    intents,
    owned: createOwnedAttachments(dir.path, log),
    queuedOutcomes: () => [],
    console: {
      desired: async () => [],
      reportProblem: async () => ({ updated: 0 }),
      currentConfigs: async (names: string[]) => {
        asked.push(names);
        if (current instanceof Error) throw current;
        return current.map((c) => ({ networkName: "net1", ...c }));
      },
    },
    gate: createGate(),
    log,
    clock: systemClock,
  });
  const intent: Intent = { operationId: "op1", attempt: 1, kind: "detach", attachmentId: "att1", networkName: "net1", containerId: "c1", ifName: "eth0", netns: "/run/netns/c1", conflist: conflist("net1", "broken"), capabilityArgs: {}, startedAt: new Date() };
  return { reconciler, intents, intent, dels, asked, log };
}

describe("reconcile's way out for an interrupted operation", () => {
  it("DELs with the console's current revision only when the intent's config fails, drops the intent, reports a warning", async () => {
    const s = setup([{ revision: 3, conflist: conflist("net1", "fixed") }]);
    await s.intents.write(s.intent);
    await s.reconciler.reconcile();
    expect(s.dels).toEqual(["broken cached c1", "fixed given c1"]);
    expect(s.asked).toEqual([["net1"]]);
    expect(s.intents.list().intents).toEqual([]);
    expect(s.reconciler.last?.warnings).toEqual(["DEL of interrupted detach net1/c1/eth0 failed (incompatible CNI versions (broken)); done with network net1's current revision 3"]);
  });

  it("keeps the intent (reconcile tries again) when the current revision fails too, without a warning", async () => {
    const s = setup([{ revision: 2, conflist: conflist("net1", "still-broken") }]);
    await s.intents.write(s.intent);
    await s.reconciler.reconcile();
    expect(s.dels).toEqual(["broken cached c1", "still-broken given c1"]);
    expect(s.intents.list().intents).toHaveLength(1);
    expect(s.reconciler.last?.warnings).toEqual([]);
    expect(s.log.messages("error")).toContain("DEL of interrupted detach net1/c1/eth0 failed with the current revision too");
  });

  it.each([
    ["the console has no revision of the network", [] as { revision: number; conflist: Record<string, unknown> }[]],
    ["the console cannot be asked", new Error("ECONNRESET")],
    ["the current revision is another network's", [{ revision: 2, conflist: conflist("other", "fixed") }]],
  ])("keeps the intent when %s", async (_what, current) => {
    const s = setup(current);
    await s.intents.write(s.intent);
    await s.reconciler.reconcile();
    expect(s.dels).toEqual(["broken cached c1"]);
    expect(s.intents.list().intents).toHaveLength(1);
  });
});
