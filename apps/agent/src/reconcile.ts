import { existsSync } from "node:fs";
import { type CniRuntime, loadNetworkList } from "@switchyard/cni";
import type { Clock } from "./clock";
import type { ConsolePort, DesiredAttachment } from "./console";
import type { Gate } from "./gate";
import type { IntentJournal } from "./intents";
import type { Logger } from "./log";
import type { OwnedAttachments } from "./owned";
import type { Report } from "./reports";

/** What the last reconcile did; reported in the inventory (the doctor shows it). */
export interface ReconcileSummary {
  at: Date;
  staleDeleted: number;
  gcNetworks: number;
  errors: string[];
}

export interface ReconcilerDeps {
  runtime: Pick<CniRuntime, "delNetworkList" | "listCachedAttachments" | "delCachedAttachment" | "gcNetworkList">;
  intents: IntentJournal;
  /** The attachments this agent made: the only cache entries it may DEL (the cache is shared with other runtimes). */
  owned: Pick<OwnedAttachments, "has" | "add" | "remove" | "list">;
  /** Outcomes recorded and not yet reported: their operations finished, nothing to undo. */
  queuedOutcomes(): Report[];
  console: Pick<ConsolePort, "desired" | "reportProblem">;
  /** Reconcile runs alone: no ADD/DEL beside its GC. */
  gate: Pick<Gate, "exclusive">;
  log: Logger;
  clock: Pick<Clock, "now">;
  /** Whether a netns path still exists (a host reboot empties the netns dir). */
  netnsExists?(path: string): boolean;
}

const key = (n: string, c: string, i: string) => `${n}\0${c}\0${i}`;

/**
 * Recovery and reconcile: DELs what interrupted operations may have left (from the intent journal),
 * then compares the host's CNI result cache with the desired attachments: DELs stale entries and
 * those whose namespace is gone, reports ready attachments the cache lost, and runs CNI GC per
 * network with the explicit valid set.
 */
export function createReconciler(deps: ReconcilerDeps) {
  const netnsExists = deps.netnsExists ?? existsSync;
  let last: ReconcileSummary | null = null;

  /** Operations that were in flight when the agent died: DEL first, before anything else runs. */
  async function recoverIntents(): Promise<void> {
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
        try {
          const net = loadNetworkList(JSON.stringify(intent.conflist));
          await deps.runtime.delNetworkList(net, { containerId: intent.containerId, ifName: intent.ifName, netns: intent.netns, capabilityArgs: intent.capabilityArgs });
        } catch (error) {
          deps.log.error("DEL of an interrupted operation failed; reconcile retries", { operationId: intent.operationId, error: (error as Error).message });
          continue;
        }
      }
      await deps.intents.remove(intent.attachmentId);
    }
  }

  async function reconcileAlone(summary: ReconcileSummary): Promise<boolean> {
    const note = (error: string) => summary.errors.length < 50 && summary.errors.push(error.slice(0, 1000));
    let desired: DesiredAttachment[];
    try {
      desired = await deps.console.desired();
    } catch (error) {
      deps.log.warn("reconcile skipped: the console is unreachable; the data plane is kept as it is", { error: (error as Error).message });
      return false;
    }
    await recoverIntents();
    const wanted = new Map(desired.map((d) => [key(d.networkName, d.containerId, d.ifName), d]));
    const all = await deps.runtime.listCachedAttachments();
    const cachedKeys = new Set(all.map((c) => key(c.networkName, c.containerId, c.ifName)));
    // Desired and cached: ours, whatever the list of made attachments says (it may predate it).
    for (const c of all) if (wanted.has(key(c.networkName, c.containerId, c.ifName))) deps.owned.add(c);
    // Made here but neither cached nor desired (an ADD that was refused or rolled back): forgotten.
    for (const a of deps.owned.list()) if (!cachedKeys.has(key(a.networkName, a.containerId, a.ifName)) && !wanted.has(key(a.networkName, a.containerId, a.ifName))) deps.owned.remove(a);
    // Another runtime's attachments (containerd, podman, cnitool share the cache) are not ours to judge.
    const foreign = all.filter((c) => !deps.owned.has(c));
    const cached = all.filter((c) => deps.owned.has(c));
    for (const c of cached) {
      const d = wanted.get(key(c.networkName, c.containerId, c.ifName));
      const netnsGone = c.netns !== "" && !netnsExists(c.netns);
      if (d && !netnsGone) continue;
      deps.log.info(d ? "namespace of an attachment is gone: DEL to release its address" : "stale cached attachment: DEL", { network: c.networkName, containerId: c.containerId, ifName: c.ifName, netns: c.netns });
      try {
        await deps.runtime.delCachedAttachment(c);
        summary.staleDeleted++;
        if (!d) deps.owned.remove(c);
        if (d) await deps.console.reportProblem(d.id, `namespace ${c.netns} disappeared (host reboot?); its address was released. Retry to attach again.`).catch(() => {});
      } catch (error) {
        deps.log.error("DEL of a stale attachment failed", { network: c.networkName, containerId: c.containerId, error: (error as Error).message });
        note(`DEL of stale ${c.networkName}/${c.containerId}/${c.ifName}: ${(error as Error).message}`);
      }
    }
    for (const d of desired) {
      if (d.state !== "ready" || cachedKeys.has(key(d.networkName, d.containerId, d.ifName))) continue;
      await deps.console.reportProblem(d.id, "no CNI result cache entry on the host for this attachment (lost in a reboot or removed by hand). Retry to attach again.").catch(() => {});
    }
    // Plugin GC with the explicit valid set, per network that has attachments here (never an empty
    // set): ours that are desired, and every other runtime's on that network (a network exported to
    // /etc/cni/net.d may be used by containerd too), so GC keeps their interfaces and leases.
    const byNetwork = new Map<string, DesiredAttachment[]>();
    for (const d of desired) byNetwork.set(d.networkName, [...(byNetwork.get(d.networkName) ?? []), d]);
    for (const [name, list] of byNetwork) {
      const latest = list.reduce((a, b) => (b.networkRevision > a.networkRevision ? b : a));
      const valid = [...list, ...foreign.filter((c) => c.networkName === name)].map((a) => ({ containerId: a.containerId, ifName: a.ifName }));
      try {
        const net = loadNetworkList(JSON.stringify(latest.conflist));
        await deps.runtime.gcNetworkList(net, { validAttachments: valid });
        summary.gcNetworks++;
      } catch (error) {
        deps.log.warn("GC failed", { network: name, error: (error as Error).message });
        note(`GC of ${name}: ${(error as Error).message}`);
      }
    }
    return true;
  }

  return {
    recoverIntents,
    /** One reconcile, alone on the host; skipped (the data plane kept) while the console is unreachable. */
    async reconcile(): Promise<void> {
      const summary: ReconcileSummary = { at: new Date(deps.clock.now()), staleDeleted: 0, gcNetworks: 0, errors: [] };
      const done = await deps.gate.exclusive(() => reconcileAlone(summary));
      if (done) last = summary;
    },
    /** The last reconcile that ran (null before the first). */
    get last(): ReconcileSummary | null {
      return last;
    },
  };
}
export type Reconciler = ReturnType<typeof createReconciler>;
