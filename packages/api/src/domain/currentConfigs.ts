import type { Db } from "@switchyard/db";
import type { AgentIdentity } from "../context";
import { hostRenderer } from "./ipamBlocks";

/**
 * The current (latest) revision's config of each named network that has an attachment on the
 * agent's host, any state: the agent's way out when a DEL or GC with the config its host cached
 * cannot finish (issue 17). Networks with nothing on this host are not the agent's to read.
 */
export async function currentConfigs(db: Db, agent: AgentIdentity, networkNames: readonly string[]) {
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
    return { networkName, revision: r.number, conflist: render(networkName, r.conflist as Record<string, unknown>) };
  });
}
