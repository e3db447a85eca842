import type { Db } from "@switchyard/db";
import type { AgentIdentity } from "../context";
import { hostRenderer } from "./ipamBlocks";

export interface CurrentConfig {
  networkName: string;
  revision: number;
  /** As this host runs it (narrowed to its blocks where the network has per-host blocks). */
  conflist: Record<string, unknown>;
  /** With per-host blocks: the network's config as saved, whose ranges the host's lease reading sorts leases by. */
  networkConflist?: Record<string, unknown>;
}

/**
 * The current (latest) revision's config of each named network that has an attachment on the
 * agent's host, any state: the agent's way out when a DEL or GC with the config its host cached
 * cannot finish (issue 17). Networks with nothing on this host are not the agent's to read.
 */
export async function currentConfigs(db: Db, agent: AgentIdentity, networkNames: readonly string[]): Promise<CurrentConfig[]> {
  const networks = await db.network.findMany({
    where: { name: { in: [...networkNames] }, latestRevision: { gt: 0 }, attachments: { some: { hostId: agent.hostId } } },
    select: { id: true, name: true, latestRevision: true },
  });
  if (networks.length === 0) return [];
  const revisions = await db.networkRevision.findMany({
    where: { OR: networks.map((n) => ({ networkId: n.id, number: n.latestRevision })) },
    select: { networkId: true, number: true, conflist: true },
  });
  const nameOf = new Map(networks.map((n) => [n.id, n.name]));
  // As the host runs it: the host-local range narrowed to the host's blocks (ipamBlocks.ts).
  const render = await hostRenderer(db, agent.hostId, networks.map((n) => n.name));
  return revisions.map((r) => {
    const networkName = nameOf.get(r.networkId)!;
    const conflist = r.conflist as Record<string, unknown>;
    // A lease from before the host had blocks lies outside them and is still a lease (maybe a conflict).
    const rendered = render(networkName, conflist);
    return { networkName, revision: r.number, conflist: rendered, ...(rendered !== conflist ? { networkConflist: conflist } : {}) };
  });
}
