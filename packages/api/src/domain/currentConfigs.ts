import type { Db } from "@switchyard/db";
import type { AgentIdentity } from "../context";

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
  return revisions.map((r) => ({ networkName: nameOf.get(r.networkId)!, revision: r.number, conflist: r.conflist as Record<string, unknown> }));
}
