import type { IpamSnapshot } from "@switchyard/api/schemas/ipam";
import type { IpamReport } from "@switchyard/api/schemas/ipamReport";
import type { Clock } from "../clock";
import type { AgentJob } from "../jobs";
import type { Logger } from "../log";
import { changeReportRequests, fullReportRequests, type NetworkView, snapshotViews } from "./report";

export interface IpamReporterDeps {
  /**
   * Reads the host's IPAM; `previous` lets unchanged lease directories and namespaces be reused
   * (a digest is compared); `full` reads everything anew.
   */
  snapshot(previous: IpamSnapshot | undefined, full: boolean): Promise<IpamSnapshot>;
  send(report: IpamReport): Promise<unknown>;
  /** How often the lease directories are looked at (a digest each) when nothing asked for a report. */
  intervalMs: number;
  /** After an operation, wait this long for others to finish before reporting (one report for a batch). */
  settleMs?: number;
  /** A full report this often even when nothing seemed to change: the backstop of change reports. */
  fullEveryMs?: number;
  log: Logger;
  clock: Clock;
  /** After each report: whether it reached the console, how long it took, and the snapshot it was taken from (metrics). */
  onReport?(r: { ok: boolean; seconds: number; snapshot: IpamSnapshot | undefined }): void;
}

export interface IpamReporter extends AgentJob {
  /** Something changed addresses (an operation ended, a reconcile ran): report soon. */
  requestReport(): void;
  /** The console may have lost what was sent (it restarted, the push stream reopened): send everything next. */
  requestFullReport(): void;
}

/**
 * The agent's lease reporting: a full report when it starts, then what changed — after operations
 * and whenever a lease directory's digest moved — so a host with 50,000 leases does not resend
 * them every heartbeat. A report that fails halfway leaves the console's picture unknown: the next
 * one is full.
 */
export function createIpamReporter(deps: IpamReporterDeps): IpamReporter {
  const settleMs = deps.settleMs ?? 200;
  const fullEveryMs = deps.fullEveryMs ?? 3600_000;
  let sent: Map<string, NetworkView> | null = null;
  let previous: IpamSnapshot | undefined;
  let lastFullAt = 0;
  let wake: (() => void) | null = null;
  let requested = false;

  async function report(): Promise<void> {
    const t0 = deps.clock.monotonic();
    let ok = false;
    try {
      ok = await reportOnce();
    } finally {
      deps.onReport?.({ ok, seconds: (deps.clock.monotonic() - t0) / 1000, snapshot: previous });
    }
  }

  /** One report; false when it was not delivered (the next is full). */
  async function reportOnce(): Promise<boolean> {
    // By the monotonic clock: a wall-clock step would hold the hourly full report back for hours, or send one at once.
    const full = sent === null || deps.clock.monotonic() - lastFullAt >= fullEveryMs;
    const snapshot = await deps.snapshot(previous, full);
    const views = snapshotViews(snapshot);
    const requests = full ? fullReportRequests(views, snapshot.takenAt) : changeReportRequests(sent!, views, snapshot.takenAt);
    const base = sent;
    sent = null;
    try {
      for (const request of requests) await deps.send(request);
    } catch (error) {
      deps.log.warn("IPAM report not delivered: the next one is full", { error: (error as Error).message });
      return false;
    } finally {
      previous = snapshot;
    }
    sent = views;
    if (full) lastFullAt = deps.clock.monotonic();
    if (requests.length > 0) {
      const leases = requests.reduce((n, r) => n + r.networks.reduce((m, x) => m + (x.mode === "replace" ? x.leases.length : x.upserted.length + x.removed.length), 0), 0);
      deps.log.debug("IPAM reported", { full, requests: requests.length, leases, networks: views.size, changedFrom: base ? "last report" : "nothing" });
    }
    return true;
  }

  return {
    name: "ipam report",
    requestReport() {
      requested = true;
      wake?.();
    },
    requestFullReport() {
      sent = null;
      requested = true;
      wake?.();
    },
    async run(signal: AbortSignal): Promise<void> {
      while (!signal.aborted) {
        requested = false;
        await report().catch((e: unknown) => deps.log.error("IPAM report failed", { error: (e as Error).message }));
        if (signal.aborted) return;
        if (!requested) {
          // Sleep until the timer or a request, whichever comes first.
          const nap = new AbortController();
          const onAbort = () => nap.abort();
          signal.addEventListener("abort", onAbort, { once: true });
          wake = () => nap.abort();
          await deps.clock.sleep(deps.intervalMs, nap.signal);
          wake = null;
          signal.removeEventListener("abort", onAbort);
        }
        // Let a batch of operations end before one report covers them all.
        if (requested && !signal.aborted) await deps.clock.sleep(settleMs, signal);
      }
    },
  };
}
