import type { CachedAttachmentSummary, GcOptions, NetworkConfigList, RuntimeConf } from "@switchyard/cni";
import { afterEach, describe, expect, it, vi } from "vitest";
import { recordingLogger, tempDir } from "../test/fakes";
import { systemClock } from "./clock";
import type { DesiredAttachment } from "./console";
import { createGate } from "./gate";
import { type Intent, createIntentJournal } from "./intents";
import { type AttachmentKey, createOwnedAttachments } from "./owned";
import { createReconciler } from "./reconcile";
import type { Report } from "./reports";
import { createTouches } from "./touches";

const conflist = (name: string, revision = 1) => ({ cniVersion: "1.0.0", name, plugins: [{ type: "bridge", bridge: `br-${revision}`, ipam: {} }] });
const desired = (o: Partial<DesiredAttachment> & { id: string; networkName: string; containerId: string }): DesiredAttachment =>
  ({ ifName: "eth0", targetKind: "netns", target: o.containerId, capabilityArgs: {}, networkRevision: 1, generation: 1, state: "ready", conflist: conflist(o.networkName, o.networkRevision), ...o }) as DesiredAttachment;
const cached = (networkName: string, containerId: string, netns = `/run/netns/${containerId}`, ifName = "eth0"): CachedAttachmentSummary => ({ networkName, containerId, ifName, netns, file: `/var/lib/cni/results/${networkName}-${containerId}-${ifName}` });

const dirs: { remove(): void }[] = [];
function deferred<T>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}
afterEach(() => dirs.splice(0).forEach((d) => d.remove()));

/** A reconciler over a fake runtime (what it DELs and GCs is recorded), a real intent journal and a scripted console. */
function setup(
  opts: {
    desired?: DesiredAttachment[] | Error | (() => Promise<DesiredAttachment[]>);
    cache?: CachedAttachmentSummary[];
    existing?: string[];
    queued?: Report[];
    gcFails?: string;
    made?: AttachmentKey[];
    reportProblem?: () => Promise<unknown>;
  } = {},
) {
  const dir = tempDir();
  dirs.push(dir);
  const owned = createOwnedAttachments(dir.path, recordingLogger());
  for (const a of opts.made ?? []) owned.add(a);
  const dels: string[] = [];
  const gcs: { network: string; valid: string[]; plugin: unknown }[] = [];
  const problems: { attachmentId: string; problem: string }[] = [];
  const intents = createIntentJournal(dir.path);
  const log = recordingLogger();
  const gate = createGate();
  const touches = createTouches();
  const reconciler = createReconciler({
    runtime: {
      delNetworkList: async (net: NetworkConfigList, rt: RuntimeConf) => void dels.push(`intent ${net.name}/${rt.containerId}/${rt.ifName} in ${rt.netns}`),
      listCachedAttachments: async () => opts.cache ?? [],
      delCachedAttachment: async (c) => void dels.push(`cached ${c.networkName}/${c.containerId}/${c.ifName}`),
      gcNetworkList: async (net: NetworkConfigList, gc: GcOptions) => {
        if (net.name === opts.gcFails) throw new Error("plugin GC failed");
        gcs.push({ network: net.name, valid: gc.validAttachments.map((a) => `${a.containerId}/${a.ifName}`), plugin: net.plugins[0]?.config });
      },
    },
    intents,
    owned,
    queuedOutcomes: () => opts.queued ?? [],
    console: {
      desired: async () => {
        if (opts.desired instanceof Error) throw opts.desired;
        if (typeof opts.desired === "function") return opts.desired();
        return opts.desired ?? [];
      },
      reportProblem: async (attachmentId: string, problem: string) => (problems.push({ attachmentId, problem }), await opts.reportProblem?.(), { updated: 1 }),
      currentConfigs: async () => [],
    },
    gate,
    touches,
    log,
    clock: systemClock,
    netnsExists: (path) => (opts.existing ?? (opts.cache ?? []).map((c) => c.netns)).includes(path),
  });
  return { reconciler, intents, owned, dels, gcs, problems, log, gate, touches };
}

const intent = (o: Partial<Intent> = {}): Intent => ({
  operationId: "op1", attempt: 1, kind: "attach", attachmentId: "att1", networkName: "net1", containerId: "c1", ifName: "eth0", netns: "/run/netns/c1", conflist: conflist("net1"), capabilityArgs: {}, startedAt: new Date(), ...o,
});

describe("recovery of interrupted operations", () => {
  it("DELs what an interrupted ADD may have left, then drops its intent", async () => {
    const s = setup();
    await s.intents.write(intent());
    await s.reconciler.recoverIntents();
    expect(s.dels).toEqual(["intent net1/c1/eth0 in /run/netns/c1"]);
    expect(s.intents.list().intents).toEqual([]);
  });

  it("an operation whose outcome is queued finished: nothing is undone", async () => {
    const s = setup({ queued: [{ operationId: "op1", attempt: 1, attachmentId: "att1", outcome: "succeeded" }] });
    await s.intents.write(intent());
    await s.reconciler.recoverIntents();
    expect(s.dels).toEqual([]);
    expect(s.intents.list().intents).toEqual([]);
    expect(s.log.messages("info")).toContain("an operation finished before the agent stopped; its outcome is queued");
  });

  it("an interrupted CHECK has nothing to undo", async () => {
    const s = setup();
    await s.intents.write(intent({ kind: "check" }));
    await s.reconciler.recoverIntents();
    expect(s.dels).toEqual([]);
    expect(s.intents.list().intents).toEqual([]);
  });
});

describe("reconcile", () => {
  it("keeps what is desired, DELs stale cache entries, DELs and reports attachments whose namespace is gone, and reports ready ones the cache lost", async () => {
    const s = setup({
      desired: [desired({ id: "keep", networkName: "net1", containerId: "a" }), desired({ id: "gone", networkName: "net1", containerId: "b" }), desired({ id: "lost", networkName: "net1", containerId: "c" }), desired({ id: "pending", networkName: "net1", containerId: "d", state: "applying" })],
      cache: [cached("net1", "a"), cached("net1", "b"), cached("net1", "old")],
      existing: ["/run/netns/a", "/run/netns/old"],
      made: [{ networkName: "net1", containerId: "old", ifName: "eth0" }],
    });
    await s.reconciler.reconcile();
    expect(s.dels.sort()).toEqual(["cached net1/b/eth0", "cached net1/old/eth0"]);
    expect(s.problems.map((p) => p.attachmentId).sort()).toEqual(["gone", "lost"]);
    expect(s.problems.find((p) => p.attachmentId === "gone")!.problem).toContain("namespace /run/netns/b disappeared");
    expect(s.reconciler.last).toMatchObject({ staleDeleted: 2, gcNetworks: 1, errors: [] });
    // The stale one is no longer ours; the desired ones are (even if the list predates them).
    expect(s.owned.has({ networkName: "net1", containerId: "old", ifName: "eth0" })).toBe(false);
    expect(s.owned.has({ networkName: "net1", containerId: "a", ifName: "eth0" })).toBe(true);
  });

  it("forgets attachments it made that are neither cached nor desired (an ADD refused or rolled back)", async () => {
    const s = setup({ desired: [desired({ id: "1", networkName: "net1", containerId: "a", state: "applying" })], made: [{ networkName: "net1", containerId: "gone", ifName: "eth0" }, { networkName: "net1", containerId: "a", ifName: "eth0" }] });
    await s.reconciler.reconcile();
    expect(s.owned.list()).toEqual([{ networkName: "net1", containerId: "a", ifName: "eth0" }]);
  });

  it("leaves other runtimes' attachments in the shared cache alone: no DEL, and valid for GC (their interface and lease stay)", async () => {
    const s = setup({
      desired: [desired({ id: "ours", networkName: "net1", containerId: "a" })],
      // containerd on the same network (exported to /etc/cni/net.d), and on a network of its own; one namespace gone.
      cache: [cached("net1", "a"), cached("net1", "ctrd-1"), cached("ctrd-net", "ctrd-2"), cached("net1", "ctrd-3", "/proc/999999/ns/net")],
      existing: ["/run/netns/a", "/run/netns/ctrd-1", "/run/netns/ctrd-2"],
    });
    await s.reconciler.reconcile();
    expect(s.dels).toEqual([]);
    expect(s.problems).toEqual([]);
    expect(s.gcs).toEqual([{ network: "net1", valid: ["a/eth0", "ctrd-1/eth0", "ctrd-3/eth0"], plugin: expect.anything() }]);
    expect(s.reconciler.last).toMatchObject({ staleDeleted: 0, gcNetworks: 1 });
  });

  it("GCs each network with its attachments as the valid set, using the newest revision's config", async () => {
    const s = setup({
      desired: [desired({ id: "1", networkName: "net1", containerId: "a", networkRevision: 1 }), desired({ id: "2", networkName: "net1", containerId: "b", networkRevision: 3 }), desired({ id: "3", networkName: "net2", containerId: "a", ifName: "eth1" })],
      cache: [cached("net1", "a"), cached("net1", "b"), cached("net2", "a", "/run/netns/a", "eth1")],
    });
    await s.reconciler.reconcile();
    expect(s.gcs).toEqual([
      { network: "net1", valid: ["a/eth0", "b/eth0"], plugin: expect.objectContaining({ bridge: "br-3" }) },
      { network: "net2", valid: ["a/eth1"], plugin: expect.objectContaining({ bridge: "br-1" }) },
    ]);
  });

  it("a failed GC is noted in the summary and the others still run", async () => {
    const s = setup({ desired: [desired({ id: "1", networkName: "net1", containerId: "a" }), desired({ id: "2", networkName: "net2", containerId: "a", ifName: "eth1" })], gcFails: "net1" });
    await s.reconciler.reconcile();
    expect(s.gcs.map((g) => g.network)).toEqual(["net2"]);
    expect(s.reconciler.last).toMatchObject({ gcNetworks: 1, errors: ["GC of net1: plugin GC failed"] });
  });

  it("while the console is unreachable the data plane is kept as it is", async () => {
    const s = setup({ desired: new Error("ECONNREFUSED"), cache: [cached("net1", "a")] });
    await s.intents.write(intent());
    await s.reconciler.reconcile();
    expect(s.dels).toEqual([]);
    expect(s.gcs).toEqual([]);
    expect(s.intents.list().intents).toHaveLength(1);
    expect(s.reconciler.last).toBeNull();
    expect(s.log.messages("warn")).toEqual(["reconcile skipped: the console is unreachable; the data plane is kept as it is"]);
  });

  it("operations go on while the console is slow to answer reconcile's desired list, and while its problem reports are on their way", async () => {
    const answer = deferred<DesiredAttachment[]>();
    const reported = deferred<void>();
    const s = setup({ desired: () => answer.promise, cache: [], reportProblem: () => reported.promise });
    const reconciling = s.reconciler.reconcile();
    await new Promise((r) => setTimeout(r, 10));
    // The old reconcile took the gate first and held it across the call: this waited for the answer.
    await expect(s.gate.shared(async () => "ran")).resolves.toBe("ran");
    answer.resolve([desired({ id: "lost", networkName: "net1", containerId: "a" })]);
    await vi.waitFor(() => expect(s.problems.map((p) => p.attachmentId)).toEqual(["lost"]));
    // The report hangs; the gate is free.
    await expect(s.gate.shared(async () => "ran")).resolves.toBe("ran");
    reported.resolve();
    await reconciling;
    expect(s.reconciler.last).toMatchObject({ gcNetworks: 1, errors: [] });
  });

  it("what operations began on after the desired list was fetched is left to the next run: no DEL, no problem, valid for GC, still ours", async () => {
    const cache = [cached("net1", "a"), cached("net1", "b")];
    const answer = deferred<DesiredAttachment[]>();
    const s = setup({ desired: () => answer.promise, cache, made: [{ networkName: "net1", containerId: "a", ifName: "eth0" }, { networkName: "net1", containerId: "b", ifName: "eth0" }] });
    const reconciling = s.reconciler.reconcile();
    await new Promise((r) => setTimeout(r, 10));
    // While the answer is on its way: an attach of "new" (created after the list was read) and a detach of "b".
    await s.gate.shared(async () => {
      s.touches.touch({ networkName: "net1", containerId: "new", ifName: "eth0" });
      s.owned.add({ networkName: "net1", containerId: "new", ifName: "eth0" });
      cache.push(cached("net1", "new"));
      s.touches.touch({ networkName: "net1", containerId: "b", ifName: "eth0" });
      cache.splice(cache.findIndex((c) => c.containerId === "b"), 1);
    });
    // The list as it was before both: "b" ready, "new" unknown.
    answer.resolve([desired({ id: "a", networkName: "net1", containerId: "a" }), desired({ id: "b", networkName: "net1", containerId: "b" })]);
    await reconciling;
    expect(s.dels).toEqual([]);
    expect(s.problems).toEqual([]);
    expect(s.gcs).toEqual([{ network: "net1", valid: ["a/eth0", "b/eth0", "new/eth0"], plugin: expect.anything() }]);
    expect(s.owned.has({ networkName: "net1", containerId: "new", ifName: "eth0" })).toBe(true);

    // The next run, with a list that knows both, judges them as usual.
    const next = setup({ desired: [desired({ id: "a", networkName: "net1", containerId: "a" })], cache, made: s.owned.list() });
    await next.reconciler.reconcile();
    expect(next.dels).toEqual(["cached net1/new/eth0"]);
  });
});
