import { listTable, runNft } from "@switchyard/dataplane/nft";
import { SINK_DEVICE, type ServiceRoute, removeServiceRoutes } from "./routes";

/**
 * What `switchyard-agent uninstall` takes off a host (issue 12: the table goes when the agent is
 * uninstalled): the `ip switchyard` and `ip6 switchyard` tables, every route carrying the agent's
 * routing protocol (blackholes and VIP routes) and the sink device. Nothing else: other tables,
 * foreign routes and links of other names are never touched. Idempotent: a second run finds
 * nothing and says so.
 */
export interface UninstallResult {
  /** `ip switchyard` / `ip6 switchyard`, those that were there. */
  tables: string[];
  routes: ServiceRoute[];
  /** Whether the sink device was there and deleted. */
  sinkRemoved: boolean;
}

export async function uninstallServices(options: { netns?: string } = {}): Promise<UninstallResult> {
  const tables: string[] = [];
  for (const family of [4, 6] as const) {
    if ((await listTable(family, options)) === null) continue;
    const name = `${family === 4 ? "ip" : "ip6"} switchyard`;
    await runNft(["delete", "table", ...name.split(" ")], "", options);
    tables.push(name);
  }
  // Routes after the tables: a VIP must not stay dispatched once its sink route is gone.
  const routes = await removeServiceRoutes(options);
  return { tables, routes: routes.removed, sinkRemoved: routes.device === "removed" };
}

/** One line per thing removed, or one saying there was nothing. */
export function describeUninstall(r: UninstallResult, where: string): string[] {
  const lines = [...r.tables.map((t) => `removed table ${t}`), ...r.routes.map((x) => `removed route ${x.kind === "blackhole" ? `blackhole ${x.dst}` : `${x.dst} dev ${SINK_DEVICE}`}`), ...(r.sinkRemoved ? [`removed device ${SINK_DEVICE}`] : [])];
  return lines.length > 0 ? lines.map((l) => `${l} (${where})`) : [`nothing to remove (${where}): no Switchyard table, route or sink device`];
}
