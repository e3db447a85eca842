import { existsSync } from "node:fs";
import { type CniRuntime, type NetworkConfigList, loadNetworkList } from "@switchyard/cni";
import type { Clock } from "./clock";
import type { ConsolePort, DesiredAttachment } from "./console";
import type { Gate } from "./gate";
import type { IntentJournal } from "./intents";
import type { Logger } from "./log";
import type { OwnedAttachments } from "./owned";
import type { Report } from "./reports";
import { type Touches, type TouchWatch, createTouches } from "./touches";

/** What the last reconcile did; reported in the inventory (the doctor shows it). */
export interface ReconcileSummary {
  at: Date;
  staleDeleted: number;
  gcNetworks: number;
  errors: string[];
  /** What got through only with the console's current network revision: the cached (or the attachments') config failed. */
  warnings: string[];
}

export interface ReconcilerDeps {
  runtime: Pick<CniRuntime, "delNetworkList" | "listCachedAttachments" | "delCachedAttachment" | "gcNetworkList">;
  intents: IntentJournal;
  /** The attachments this agent made: the only cache entries it may DEL (the cache is shared with other runtimes). */
  owned: Pick<OwnedAttachments, "has" | "add" | "remove" | "list">;
  /** Outcomes recorded and not yet reported: their operations finished, nothing to undo. */
  queuedOutcomes(): Report[];
  console: Pick<ConsolePort, "desired" | "reportProblem" | "currentConfigs">;
  /** Reconcile runs alone: no ADD/DEL beside its GC. */
  gate: Pick<Gate, "exclusive">;
  /** The attachments operations begin on (the operation runner's): those begun after the desired list was fetched are left for the next run. */
  touches?: Pick<Touches, "watch">;
  log: Logger;
  clock: Pick<Clock, "now">;
  /** Whether a netns path still exists (a host reboot empties the netns dir). */
  netnsExists?(path: string): boolean;
}

const key = (n: string, c: string, i: string) => `${n}\0${c}\0${i}`;
const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

/**
 * Recovery and reconcile: DELs what interrupted operations may have left (from the intent journal),
 * then compares the host's CNI result cache with the desired attachments: DELs stale entries and
 * those whose namespace is gone, reports ready attachments the cache lost, and runs CNI GC per
 * network with the explicit valid set.
 */
export function createReconciler(deps: ReconcilerDeps) {
  const netnsExists = deps.netnsExists ?? existsSync;
  const touches = deps.touches ?? createTouches();
  let last: ReconcileSummary | null = null;

  /**
   * The way out when a DEL or GC with the config the host cached cannot finish (a CNI version the
   * plugins lack, a plugin whose binary is gone): the same again with the console's current
   * revision of the network only (configSource "given"), reported as a warning. Without it such an
   * attachment would fail every reconcile for good. False when there is no current revision or it
   * fails too (the caller reports the first error).
   */
  async function withCurrentRevision(networkName: string, what: string, failure: unknown, run: (net: NetworkConfigList) => Promise<void>, summary?: ReconcileSummary): Promise<boolean> {
    let current: { revision: number; net: NetworkConfigList } | undefined;
    try {
      const found = (await deps.console.currentConfigs([networkName])).find((c) => c.networkName === networkName);
      if (found) current = { revision: found.revision, net: loadNetworkList(JSON.stringify(found.conflist), { source: `network ${networkName} revision ${found.revision}` }) };
    } catch (error) {
      deps.log.warn("the console's current revision is not at hand", { network: networkName, error: messageOf(error) });
    }
    if (!current || current.net.name !== networkName) return false;
    try {
      await run(current.net);
    } catch (error) {
      deps.log.error(`${what} failed with the current revision too`, { network: networkName, revision: current.revision, error: messageOf(error) });
      return false;
    }
    const warning = `${what} failed (${messageOf(failure)}); done with network ${networkName}'s current revision ${current.revision}`.slice(0, 1000);
    deps.log.warn(warning, { network: networkName, revision: current.revision });
    if (summary && summary.warnings.length < 50) summary.warnings.push(warning);
    return true;
  }

  /** Operations that were in flight when the agent died: DEL first, before anything else runs. */
  async function recoverIntents(summary?: ReconcileSummary): Promise<void> {
    const { intents: left, bad } = deps.intents.list();
    for (const name of bad) deps.log.warn("unreadable intent record", { file: name });
    // An intent whose outcome was already recorded finished: nothing to undo (the report is re-sent).
    const finished = new Set(deps.queuedOutcomes().map((r) => `${r.operationId}#${r.attempt}`));
    for (const intent of left) {
      if (finished.has(`${intent.operationId}#${intent.attempt}`)) {
        deps.log.info("an operation finished before the agent stopped; its outcome is queued", { operationId: intent.operationId, attempt: intent.attempt });
        await deps.intents.remove(intent.attachmentId);
        continue;
      }
      deps.log.warn("an operation was interrupted: DEL first", { operationId: intent.operationId, attempt: intent.attempt, kind: intent.kind, containerId: intent.containerId });
      if (intent.kind !== "check") {
        const rt = { containerId: intent.containerId, ifName: intent.ifName, netns: intent.netns, capabilityArgs: intent.capabilityArgs };
        try {
          const net = loadNetworkList(JSON.stringify(intent.conflist));
          await deps.runtime.delNetworkList(net, rt);
        } catch (error) {
          const what = `DEL of interrupted ${intent.kind} ${intent.networkName}/${intent.containerId}/${intent.ifName}`;
          if (!(await withCurrentRevision(intent.networkName, what, error, (net) => deps.runtime.delNetworkList(net, rt, { configSource: "given" }), summary))) {
            deps.log.error("DEL of an interrupted operation failed; reconcile retries", { operationId: intent.operationId, error: messageOf(error) });
            continue;
          }
        }
      }
      await deps.intents.remove(intent.attachmentId);
    }
  }

  /**
   * Runs with the gate held: no operation beside it. `desired` was fetched before the gate was
   * taken; what operations began on since (`begun`) it may not know, so those are neither DELed,
   * nor forgotten, nor reported, and GC counts them valid. Problems are collected, not sent: no
   * console call holds the gate (but the way out's rare `currentConfigs`).
   */
  async function reconcileAlone(summary: ReconcileSummary, desired: DesiredAttachment[], begun: TouchWatch, problems: { attachmentId: string; problem: string }[]): Promise<void> {
    const note = (error: string) => summary.errors.length < 50 && summary.errors.push(error.slice(0, 1000));
    await recoverIntents(summary);
    const wanted = new Map(desired.map((d) => [key(d.networkName, d.containerId, d.ifName), d]));
    const all = await deps.runtime.listCachedAttachments();
    const cachedKeys = new Set(all.map((c) => key(c.networkName, c.containerId, c.ifName)));
    // Desired and cached: ours, whatever the list of made attachments says (it may predate it).
    for (const c of all) if (wanted.has(key(c.networkName, c.containerId, c.ifName))) deps.owned.add(c);
    // Made here but neither cached nor desired (an ADD that was refused or rolled back): forgotten.
    for (const a of deps.owned.list()) if (!begun.has(a) && !cachedKeys.has(key(a.networkName, a.containerId, a.ifName)) && !wanted.has(key(a.networkName, a.containerId, a.ifName))) deps.owned.remove(a);
    // Another runtime's attachments (containerd, podman, cnitool share the cache) are not ours to judge.
    const foreign = all.filter((c) => !deps.owned.has(c));
    const cached = all.filter((c) => deps.owned.has(c));
    for (const c of cached) {
      if (begun.has(c)) continue;
      const d = wanted.get(key(c.networkName, c.containerId, c.ifName));
      const netnsGone = c.netns !== "" && !netnsExists(c.netns);
      if (d && !netnsGone) continue;
      deps.log.info(d ? "namespace of an attachment is gone: DEL to release its address" : "stale cached attachment: DEL", { network: c.networkName, containerId: c.containerId, ifName: c.ifName, netns: c.netns });
      try {
        try {
          await deps.runtime.delCachedAttachment(c);
        } catch (error) {
          const rt = { containerId: c.containerId, ifName: c.ifName, netns: c.netns };
          const what = `DEL of ${d ? "" : "stale "}${c.networkName}/${c.containerId}/${c.ifName}`;
          if (!(await withCurrentRevision(c.networkName, what, error, (net) => deps.runtime.delNetworkList(net, rt, { configSource: "given" }), summary))) throw error;
        }
        summary.staleDeleted++;
        if (!d) deps.owned.remove(c);
        if (d) problems.push({ attachmentId: d.id, problem: `namespace ${c.netns} disappeared (host reboot?); its address was released. Retry to attach again.` });
      } catch (error) {
        deps.log.error("DEL of a stale attachment failed", { network: c.networkName, containerId: c.containerId, error: (error as Error).message });
        note(`DEL of stale ${c.networkName}/${c.containerId}/${c.ifName}: ${(error as Error).message}`);
      }
    }
    for (const d of desired) {
      if (d.state !== "ready" || cachedKeys.has(key(d.networkName, d.containerId, d.ifName)) || begun.has(d)) continue;
      problems.push({ attachmentId: d.id, problem: "no CNI result cache entry on the host for this attachment (lost in a reboot or removed by hand). Retry to attach again." });
    }
    // Plugin GC with the explicit valid set, per network that has attachments here (never an empty
    // set): ours that are desired, and every other runtime's on that network (a network exported to
    // /etc/cni/net.d may be used by containerd too), so GC keeps their interfaces and leases.
    const byNetwork = new Map<string, DesiredAttachment[]>();
    for (const d of desired) byNetwork.set(d.networkName, [...(byNetwork.get(d.networkName) ?? []), d]);
    for (const [name, list] of byNetwork) {
      const latest = list.reduce((a, b) => (b.networkRevision > a.networkRevision ? b : a));
      const valid = [...list, ...foreign.filter((c) => c.networkName === name), ...begun.list().filter((b) => b.networkName === name && !wanted.has(key(b.networkName, b.containerId, b.ifName)))].map((a) => ({ containerId: a.containerId, ifName: a.ifName }));
      try {
        try {
          const net = loadNetworkList(JSON.stringify(latest.conflist));
          await deps.runtime.gcNetworkList(net, { validAttachments: valid });
        } catch (error) {
          if (!(await withCurrentRevision(name, `GC of ${name}`, error, (net) => deps.runtime.gcNetworkList(net, { validAttachments: valid, configSource: "given" }), summary))) throw error;
        }
        summary.gcNetworks++;
      } catch (error) {
        deps.log.warn("GC failed", { network: name, error: (error as Error).message });
        note(`GC of ${name}: ${(error as Error).message}`);
      }
    }
  }

  return {
    recoverIntents,
    /** One reconcile, alone on the host; skipped (the data plane kept) while the console is unreachable. */
    async reconcile(): Promise<void> {
      const summary: ReconcileSummary = { at: new Date(deps.clock.now()), staleDeleted: 0, gcNetworks: 0, errors: [], warnings: [] };
      // Opened before the fetch: an operation that begins while the answer is on its way is counted.
      const begun = touches.watch();
      const problems: { attachmentId: string; problem: string }[] = [];
      try {
        let desired: DesiredAttachment[];
        try {
          // Outside the gate: operations go on while the console answers (up to its timeout under load).
          desired = await deps.console.desired();
        } catch (error) {
          deps.log.warn("reconcile skipped: the console is unreachable; the data plane is kept as it is", { error: (error as Error).message });
          return;
        }
        await deps.gate.exclusive(() => reconcileAlone(summary, desired, begun, problems));
        last = summary;
      } finally {
        begun.close();
      }
      for (const p of problems) await deps.console.reportProblem(p.attachmentId, p.problem).catch(() => {});
    },
    /** The last reconcile that ran (null before the first). */
    get last(): ReconcileSummary | null {
      return last;
    },
  };
}
export type Reconciler = ReturnType<typeof createReconciler>;
