import type { IpamDelta, IpamSnapshot } from "@switchyard/api/schemas/ipam";
import { diffIpamSnapshots, isEmptyIpamDelta } from "./delta";

/** How the reports reach the console (the lead wires these to agent procedures). */
export interface IpamReportPort {
  sendSnapshot(snapshot: IpamSnapshot): Promise<void>;
  sendDelta(delta: IpamDelta): Promise<void>;
}

export type IpamReportOutcome = "snapshot" | "delta" | "unchanged";

export interface IpamReporter {
  /**
   * Takes a snapshot and sends what the console lacks: all of it the first time, after a failed
   * send and after reset(); only the changes otherwise; nothing when nothing changed. Calls made
   * while one runs wait for it and run once more after it (after an operation, on the timer).
   */
  report(): Promise<IpamReportOutcome>;
  /** The console lost track (a reconnect, a delta it refused): the next report is a full snapshot. */
  reset(): void;
}

/**
 * `take(previous)` builds the snapshot (buildIpamSnapshot with `previous`, so unchanged lease
 * directories are not read again). The console's copy is `sent`: a delta always goes against
 * what the console acknowledged, so a lost send never leaves it with a gap.
 */
export function createIpamReporter(take: (previous: IpamSnapshot | undefined) => Promise<IpamSnapshot>, port: IpamReportPort): IpamReporter {
  let sent: IpamSnapshot | undefined;
  let last: IpamSnapshot | undefined;
  let running: Promise<IpamReportOutcome> | undefined;
  let again: Promise<IpamReportOutcome> | undefined;

  const once = async (): Promise<IpamReportOutcome> => {
    const snapshot = await take(last);
    last = snapshot;
    if (!sent) {
      await port.sendSnapshot(snapshot);
      sent = snapshot;
      return "snapshot";
    }
    const delta = diffIpamSnapshots(sent, snapshot);
    if (isEmptyIpamDelta(delta)) return "unchanged";
    try {
      await port.sendDelta(delta);
    } catch (error) {
      sent = undefined; // the console may or may not hold it: start again from a full snapshot
      throw error;
    }
    sent = snapshot;
    return "delta";
  };

  const run = (): Promise<IpamReportOutcome> => {
    running = once().finally(() => {
      running = undefined;
    });
    return running;
  };

  return {
    report() {
      if (!running) return run();
      // One follow-up for however many calls came while a report ran: it sees all their changes.
      again ??= running.catch(() => undefined).then(() => {
        again = undefined;
        return run();
      });
      return again;
    },
    reset() {
      sent = undefined;
    },
  };
}
