import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { recordingLogger, tempDir } from "../test/fakes";
import { systemClock } from "./clock";
import { createGate } from "./gate";
import { type Intent, createIntentJournal } from "./intents";
import { createOwnedAttachments } from "./owned";
import { createReconciler } from "./reconcile";

const dirs: { remove(): void }[] = [];
afterEach(() => dirs.splice(0).forEach((d) => d.remove()));

const intent = (attachmentId: string, o: Partial<Intent> = {}): Intent => ({
  operationId: `op-${attachmentId}`,
  attempt: 1,
  kind: "attach",
  attachmentId,
  networkName: "n1",
  containerId: `c-${attachmentId}`,
  ifName: "eth0",
  netns: `/run/netns/c-${attachmentId}`,
  conflist: { cniVersion: "1.0.0", name: "n1", plugins: [{ type: "bridge", bridge: "br0", ipam: {} }] },
  capabilityArgs: {},
  startedAt: new Date(),
  ...o,
});

/** A journal with one good record and records that are not JSON (a power loss, a hand edit). */
async function journalWithBadRecords() {
  const dir = tempDir();
  dirs.push(dir);
  const journal = createIntentJournal(dir.path);
  await journal.write(intent("good"));
  mkdirSync(join(dir.path, "intents"), { recursive: true });
  writeFileSync(join(dir.path, "intents", "cut.json"), '{"operationId":"op-cut","att');
  writeFileSync(join(dir.path, "intents", "empty.json"), "");
  return { dir, journal };
}

describe("the intent journal with records that are not JSON (HARDENING 23)", () => {
  it("lists them as bad by name, the readable ones as intents, and does not throw", async () => {
    const { journal } = await journalWithBadRecords();
    const { intents, bad } = journal.list();
    expect(intents.map((i) => i.attachmentId)).toEqual(["good"]);
    expect(bad.sort()).toEqual(["cut.json", "empty.json"]);
  });

  it("an operation's end removes its attachment's record even when what is there cannot be read", async () => {
    const { dir, journal } = await journalWithBadRecords();
    await journal.remove("cut", { operationId: "op-cut", attempt: 1 });
    expect(existsSync(join(dir.path, "intents", "cut.json"))).toBe(false);
    // A readable record of another attempt is still kept.
    await journal.remove("good", { operationId: "op-good", attempt: 2 });
    expect(existsSync(join(dir.path, "intents", "good.json"))).toBe(true);
  });

  it("recovery at start DELs the readable interrupted operation, reports the bad records and goes on (an agent that threw here stopped at every start)", async () => {
    const { dir, journal } = await journalWithBadRecords();
    const dels: string[] = [];
    const log = recordingLogger();
    const reconciler = createReconciler({
      runtime: {
        delNetworkList: async (_net, rt) => void dels.push(rt.containerId),
        listCachedAttachments: async () => [],
        delCachedAttachment: async () => {},
        gcNetworkList: async () => {},
      },
      intents: journal,
      owned: createOwnedAttachments(dir.path, log),
      queuedOutcomes: () => [],
      console: { desired: async () => [], reportProblem: async () => ({ updated: 0 }), currentConfigs: async () => [] },
      gate: createGate(),
      log,
      clock: systemClock,
    });
    await reconciler.recoverIntents();
    expect(dels).toEqual(["c-good"]);
    expect(log.lines.filter((l) => l.msg === "unreadable intent record").map((l) => l.fields.file)).toEqual(expect.arrayContaining(["cut.json", "empty.json"]));
    expect(journal.list()).toEqual({ intents: [], bad: expect.arrayContaining(["cut.json", "empty.json"]) });
  });
});
