import type { CniRuntime } from "@switchyard/cni";
import type { IpamReport } from "@switchyard/api/schemas/ipamReport";
import type { Clock } from "../clock";
import type { Logger } from "../log";
import type { OwnedAttachments } from "../owned";
import { collectKnownNetworks, loadConsoleConfigs } from "./networks";
import { createIpamReporter, type IpamReporter, type IpamReporterDeps } from "./reporter";
import { buildIpamSnapshot, type OwnAttachment } from "./snapshot";

/** How often the lease directories' digests are compared when nothing asked for a report. */
export const IPAM_REPORT_INTERVAL_MS = 10_000;

export interface HostIpamDeps {
  confDir: string;
  netnsDir: string;
  runtime: Pick<CniRuntime, "listCachedAttachments" | "getCachedResult">;
  owned: Pick<OwnedAttachments, "list">;
  console: {
    currentConfigs(networkNames: string[]): Promise<{ networkName: string; conflist: Record<string, unknown>; networkConflist?: Record<string, unknown> }[]>;
    reportIpam(report: IpamReport): Promise<unknown>;
  };
  log: Logger;
  clock: Clock;
  intervalMs?: number;
  onReport?: IpamReporterDeps["onReport"];
}

/**
 * The agent's lease reporting on this host: the networks it knows are the conf dir's and the
 * console's networks of the attachments it holds or finds in the result cache (their current
 * configs: where a network's lease files live); its own attachments' namespaces are looked into.
 */
export function createHostIpamReporter(deps: HostIpamDeps): IpamReporter {
  return createIpamReporter({
    intervalMs: deps.intervalMs ?? IPAM_REPORT_INTERVAL_MS,
    log: deps.log,
    clock: deps.clock,
    send: (report) => deps.console.reportIpam(report),
    ...(deps.onReport ? { onReport: deps.onReport } : {}),
    async snapshot(previous, full) {
      const cached = await deps.runtime.listCachedAttachments().catch(() => []);
      const owned = deps.owned.list();
      // And the networks of the last snapshot: a network whose last attachment here went may still
      // hold leases (a leak, another runtime's), and the console still has its config while the
      // attachment's row exists; when it does not, the network drops out and the console forgets it.
      const names = [...new Set([...owned.map((o) => o.networkName), ...cached.map((c) => c.networkName), ...(previous?.networks ?? []).filter((n) => n.knownFrom.includes("console")).map((n) => n.networkName)])].sort();
      // The network's whole ranges, not the host's blocks (per-host blocks): a lease outside them is still a lease.
      const consoleNetworks = names.length === 0 ? [] : loadConsoleConfigs(await deps.console.currentConfigs(names), (c) => c.networkConflist ?? c.conflist, (network, error) =>
        deps.log.warn("IPAM: the console's config of a network does not load", { network, error: error.message }),
      );
      const netnsOf = new Map(cached.map((c) => [`${c.networkName}\0${c.containerId}\0${c.ifName}`, c.netns]));
      const ownAttachments: OwnAttachment[] = owned.flatMap((o) => {
        const netns = netnsOf.get(`${o.networkName}\0${o.containerId}\0${o.ifName}`);
        return netns ? [{ ...o, netns }] : [];
      });
      return buildIpamSnapshot({
        networks: await collectKnownNetworks(consoleNetworks, deps.confDir),
        runtime: deps.runtime,
        cached,
        netnsDirs: [deps.netnsDir],
        ownAttachments,
        previous,
        refreshNamespaces: full,
      });
    },
  });
}
