import type { Db, DbTx } from "@switchyard/db";
import { ApiError } from "../errors";
import { normaliseIpamRanges } from "@switchyard/ipam";
import type { MapLease } from "./ipamMap";
import { loadLatest, parseOrThrow } from "./networks";

/**
 * Issue 11, bad input: "a range change that would strand live leases (shown before saving)". A
 * draft of a network's config is judged against the addresses hosts hold now (the Lease table):
 * a lease inside the saved config's ranges and outside every range of the draft is stranded by
 * the change — host-local on its host will never hand it out again, and the holder keeps an
 * address the network no longer has. Nothing is written; the editor asks while the operator types
 * and again before saving, and saving such a change needs their explicit confirmation: every
 * path that writes a revision (edit, rollback, import) refuses it unless the caller names the
 * count it agreed to (`strandAddresses`), so a script cannot strand addresses by accident either.
 */

/** Leases listed one by one at most (the counts cover them all). */
export const STRANDED_LIST_LIMIT = 200;

/** One range of host-local's, first and last address it hands out. */
export interface AddressSpan {
  first: string;
  last: string;
}

/**
 * Every range host-local would hand addresses from, in every range set (IPv4 and IPv6) of every
 * host-local ipam section of the conflist, parsed as the rest of the console parses them. A
 * config with no host-local section has no range: every lease falls outside.
 */
export function hostLocalSpans(conflist: unknown): AddressSpan[] {
  const plugins = typeof conflist === "object" && conflist !== null ? (conflist as { plugins?: unknown }).plugins : undefined;
  if (!Array.isArray(plugins)) return [];
  const spans: AddressSpan[] = [];
  for (const plugin of plugins) {
    const ipam = typeof plugin === "object" && plugin !== null ? (plugin as { ipam?: unknown }).ipam : undefined;
    if (typeof ipam !== "object" || ipam === null || (ipam as { type?: unknown }).type !== "host-local") continue;
    for (const range of normaliseIpamRanges(ipam).rangeSets.flat()) spans.push({ first: range.start, last: range.end });
  }
  return spans;
}

/** A held address and its holder, as the map shows one. */
export type StrandedLease = Pick<MapLease, "address" | "hostId" | "hostName" | "containerId" | "ifName" | "attachmentId" | "attachmentState" | "since">;

export interface StrandedLeases {
  /** The draft's ranges ("first – last"): what the leases fall outside of. */
  ranges: string[];
  /** Leases the change strands: inside the saved config's ranges, outside the draft's. */
  total: number;
  /** Per host, how many of them. */
  hosts: { hostId: string; hostName: string; count: number }[];
  /** The first STRANDED_LIST_LIMIT of them, by host and address, with their holders. */
  leases: StrandedLease[];
  /** Leases outside the saved config's ranges already (an earlier change): not this change's doing. */
  alreadyOutside: number;
}

/** Postgres arrays of the spans' first and last addresses, for `unnest(firsts, lasts)`. */
const asArrays = (spans: AddressSpan[]) => ({ firsts: spans.map((s) => s.first), lasts: spans.map((s) => s.last) });
type SpanArrays = ReturnType<typeof asArrays>;

/** The leases of the network that saving `text` (a draft of its config) would strand. */
export async function findStrandedLeases(db: Db, input: { networkId: string; text: string }): Promise<StrandedLeases> {
  return strandedBy(db, input.networkId, parseOrThrow(input.text).conflist);
}

/** The same for a draft already parsed (the import preview's files). */
export async function strandedBy(db: Db | DbTx, networkId: string, conflist: unknown, saved?: { conflist: unknown }): Promise<StrandedLeases> {
  saved ??= await loadLatest(db, networkId);
  const draft = hostLocalSpans(conflist);
  const now = asArrays(hostLocalSpans(saved.conflist));
  const next = asArrays(draft);
  const perHost = await countOutside(db, networkId, now, next);
  const total = perHost.reduce((n, h) => n + h.stranded, 0);
  return {
    ranges: draft.map((s) => `${s.first} – ${s.last}`),
    total,
    hosts: perHost.filter((h) => h.stranded > 0).map((h) => ({ hostId: h.hostId, hostName: h.hostName, count: h.stranded })),
    leases: total > 0 ? await listStranded(db, networkId, now, next) : [],
    alreadyOutside: perHost.reduce((n, h) => n + h.already, 0),
  };
}

/** What a preview's warning says of them: how many, where, the first holders. Null when none. */
export function strandedWarning(found: StrandedLeases): string | null {
  if (found.total === 0) return null;
  const shown = found.leases.slice(0, 3).map((l) => `${l.address} on ${l.hostName} (${l.containerId}/${l.ifName})`);
  const more = found.total > shown.length ? `, and ${found.total - shown.length} more` : "";
  const hosts = found.hosts.map((h) => `${h.hostName}: ${h.count}`).join(", ");
  return `${found.total === 1 ? "1 held address falls" : `${found.total} held addresses fall`} outside the new ranges (${hosts}): ${shown.join(", ")}${more}; host-local will not hand them out again`;
}

/** Per host, the leases outside every draft range: inside a saved range (stranded by the change) or not (outside already). */
function countOutside(db: Db | DbTx, networkId: string, now: SpanArrays, next: SpanArrays) {
  return db.$queryRaw<{ hostId: string; hostName: string; stranded: number; already: number }[]>`
    WITH judged AS (
      SELECT l."hostId", EXISTS (SELECT 1 FROM unnest(${now.firsts}::inet[], ${now.lasts}::inet[]) AS s(f, t) WHERE l.address BETWEEN s.f AND s.t) AS "inSaved"
      FROM "Lease" l
      WHERE l."networkId" = ${networkId}
        AND NOT EXISTS (SELECT 1 FROM unnest(${next.firsts}::inet[], ${next.lasts}::inet[]) AS d(f, t) WHERE l.address BETWEEN d.f AND d.t))
    SELECT j."hostId", h.name AS "hostName", (count(*) FILTER (WHERE j."inSaved"))::int AS stranded, (count(*) FILTER (WHERE NOT j."inSaved"))::int AS already
    FROM judged j JOIN "Host" h ON h.id = j."hostId"
    GROUP BY j."hostId", h.name ORDER BY h.name`;
}

/** The stranded leases with their holders, by host and address, at most STRANDED_LIST_LIMIT. */
function listStranded(db: Db | DbTx, networkId: string, now: SpanArrays, next: SpanArrays) {
  return db.$queryRaw<StrandedLease[]>`
    SELECT host(l.address) AS address, l."hostId", h.name AS "hostName", l."containerId", l."ifName", l."attachmentId", a.state::text AS "attachmentState", l.since
    FROM "Lease" l JOIN "Host" h ON h.id = l."hostId" LEFT JOIN "Attachment" a ON a.id = l."attachmentId"
    WHERE l."networkId" = ${networkId}
      AND NOT EXISTS (SELECT 1 FROM unnest(${next.firsts}::inet[], ${next.lasts}::inet[]) AS d(f, t) WHERE l.address BETWEEN d.f AND d.t)
      AND EXISTS (SELECT 1 FROM unnest(${now.firsts}::inet[], ${now.lasts}::inet[]) AS s(f, t) WHERE l.address BETWEEN s.f AND s.t)
    ORDER BY h.name, l.address
    LIMIT ${STRANDED_LIST_LIMIT}`;
}

/**
 * Refuses a new revision of `networkId` that strands held addresses unless `agreed` is their
 * count (what the caller was shown: a count that moved since is asked again). Run inside the
 * transaction that writes the revision, against the revision it replaces.
 */
export async function refuseUnagreedStranding(tx: DbTx, networkId: string, saved: { name: string; conflist: unknown }, next: unknown, agreed: number | undefined): Promise<void> {
  if (JSON.stringify(hostLocalSpans(saved.conflist)) === JSON.stringify(hostLocalSpans(next))) return;
  const found = await strandedBy(tx, networkId, next, saved);
  if (found.total === 0 || agreed === found.total) return;
  const asked = agreed === undefined ? "" : ` (you agreed to ${agreed})`;
  const message = `Network "${saved.name}": ${strandedWarning(found)}. To save anyway, send strandAddresses: ${found.total}${asked}`;
  throw new ApiError("WOULD_STRAND", message, [{ path: ["strandAddresses"], message: `${found.total} held addresses would be stranded`, severity: "error" }]);
}
