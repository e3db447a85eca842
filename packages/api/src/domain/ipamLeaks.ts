import type { Db } from "@switchyard/db";
import { ApiError } from "../errors";
import { SEEN_IN } from "../schemas/ipamReport";
import type { ReleaseStepKind } from "../schemas/ipamRelease";
import { RESERVATION_CONTAINER_ID } from "./ipamReservations";

/** Most leases one leak listing returns (the worst first: gone namespaces). */
const LEAKS_MAX = 1000;

/**
 * What a held address is, judged on the evidence its host reported:
 * - `live`: a console attachment that is not detached holds it (and its namespace is not gone);
 * - `other-runtime`: no console attachment, but the result cache names a holder whose namespace
 *   lives (containerd, CRI-O, podman, nerdctl share host-local's data dir and libcni's cache);
 * - `leak`: the cached namespace is gone, or no live attachment and no cache entry;
 * - `unknown`: no live attachment, a cache entry, and no way to tell whether its namespace lives.
 */
export type LeaseVerdict = "live" | "other-runtime" | "leak" | "unknown";

export interface LeaseEvidence {
  attachment: { id: string; state: string } | null;
  leaseFile: boolean;
  cacheEntry: boolean;
  netns: string;
  netnsAlive: boolean | null;
}

export interface JudgedLease extends Pick<LeaseRow, "hostId" | "hostName" | "networkName" | "address" | "containerId" | "ifName" | "since"> {
  verdict: LeaseVerdict;
  evidence: LeaseEvidence;
  /** The evidence, one sentence a point, as the page shows it. */
  reasons: string[];
}

interface LeaseRow {
  hostId: string;
  hostName: string;
  networkName: string;
  address: string;
  containerId: string;
  ifName: string;
  since: Date;
  seenIn: number;
  netns: string;
  netnsAlive: boolean | null;
  attachmentId: string | null;
  attachmentState: string | null;
  dataDir: string;
}

/** Judges one lease from its evidence (pure: the page and the tests share it). */
export function judgeLease(row: Pick<LeaseRow, "seenIn" | "netns" | "netnsAlive" | "attachmentId" | "attachmentState" | "containerId">): { verdict: LeaseVerdict; evidence: LeaseEvidence; reasons: string[] } {
  const attachment = row.attachmentId ? { id: row.attachmentId, state: row.attachmentState ?? "unknown" } : null;
  const cacheEntry = row.netns !== "" || (row.seenIn & SEEN_IN.resultCache) !== 0;
  const evidence: LeaseEvidence = { attachment, leaseFile: (row.seenIn & SEEN_IN.leaseFile) !== 0, cacheEntry, netns: row.netns, netnsAlive: row.netnsAlive };
  const reasons: string[] = [];
  const live = attachment !== null && attachment.state !== "detached";
  reasons.push(!attachment ? "no console attachment holds it" : live ? `console attachment ${attachment.id} (${attachment.state}) holds it` : `its console attachment ${attachment.id} is detached`);
  reasons.push(cacheEntry ? `the host's result cache names its holder ${row.containerId}` : "no result cache entry names its holder");
  if (row.netns) reasons.push(row.netnsAlive === false ? `its namespace ${row.netns} is gone` : row.netnsAlive ? `its namespace ${row.netns} exists` : `whether its namespace ${row.netns} exists is unknown`);
  else reasons.push("no namespace is known for its holder");
  if (evidence.leaseFile) reasons.push("host-local's lease file still names it");
  let verdict: LeaseVerdict;
  // A namespace that is gone holds nothing, whatever the console's attachment says.
  if (row.netnsAlive === false) verdict = "leak";
  else if (live) verdict = "live";
  else if (!cacheEntry) verdict = "leak";
  else if (row.netnsAlive === true) verdict = "other-runtime";
  else verdict = "unknown";
  return { verdict, evidence, reasons };
}

async function leaseRows(db: Db, networkId: string, filter: { hostId?: string; addresses?: string[] }): Promise<LeaseRow[]> {
  const addresses = filter.addresses ? JSON.stringify(filter.addresses) : null;
  return db.$queryRaw<LeaseRow[]>`
    SELECT l."hostId", h.name AS "hostName", l."networkName", host(l.address) AS address, l."containerId", l."ifName", l.since,
      l."seenIn", l.netns, l."netnsAlive", l."attachmentId", a.state::text AS "attachmentState", COALESCE(s."dataDir", '') AS "dataDir"
    FROM "Lease" l
    JOIN "Host" h ON h.id = l."hostId"
    LEFT JOIN "Attachment" a ON a.id = l."attachmentId"
    LEFT JOIN "HostIpamNetwork" s ON s."hostId" = l."hostId" AND s."networkName" = l."networkName"
    WHERE l."networkId" = ${networkId} AND l."containerId" <> ${RESERVATION_CONTAINER_ID}
      AND (${filter.hostId ?? null}::text IS NULL OR l."hostId" = ${filter.hostId ?? null}::text)
      AND (${addresses}::jsonb IS NULL OR l.address IN (SELECT a::inet FROM jsonb_array_elements_text(${addresses}::jsonb) AS a))
      -- Only what is not plainly live: the rest needs no judging.
      AND (NOT l.held OR l."netnsAlive" IS FALSE)
    ORDER BY (l."netnsAlive" IS FALSE) DESC, l.address, h.name
    LIMIT ${LEAKS_MAX}`;
}

/** The leases of a network that are not plainly live, each judged with its evidence (leaks first). */
export async function listLeaks(db: Db, networkId: string): Promise<JudgedLease[]> {
  const rows = await leaseRows(db, networkId, {});
  return rows.map(toJudged).sort((a, b) => rank(a.verdict) - rank(b.verdict));
}

const rank = (v: LeaseVerdict) => ({ leak: 0, unknown: 1, "other-runtime": 2, live: 3 })[v];

function toJudged(row: LeaseRow): JudgedLease {
  return { hostId: row.hostId, hostName: row.hostName, networkName: row.networkName, address: row.address, containerId: row.containerId, ifName: row.ifName, since: row.since, ...judgeLease(row) };
}

export interface ReleaseStep {
  /**
   * What would run or go, in order; the agent stops at the first step after which the address is
   * free. `detach`: the console attachment that holds it is detached (its own operation and job);
   * the rest are the agent's (schemas/ipamRelease.ts).
   */
  kind: "detach" | Exclude<ReleaseStepKind, "check">;
  description: string;
  files: string[];
  /** detach: the attachment. */
  attachmentId?: string;
}

export interface DryRun {
  hostName: string;
  address: string;
  containerId: string;
  ifName: string;
  verdict: LeaseVerdict;
  reasons: string[];
  /** Empty when the address must not be released (held live, or by another runtime). */
  steps: ReleaseStep[];
  refusal: string | null;
}

/**
 * What releasing leaked addresses of one host would do, without doing it: a console attachment
 * whose namespace is gone is detached (its DEL runs with the cached config); for the rest CNI
 * first (DEL with the cached config when the cache has an entry, else with the config the host
 * knows, then GC with the valid set where the plugins speak it), removing host-local's lease file
 * only where the plugins cannot. Addresses that are live, held by another runtime whose namespace
 * lives, or whose holder is unreadable are refused, each with its reason.
 */
export async function dryRunRelease(db: Db, input: { networkId: string; hostId: string; addresses: string[] }): Promise<DryRun[]> {
  const rows = await leaseRows(db, input.networkId, { hostId: input.hostId, addresses: input.addresses });
  const byAddress = new Map(rows.map((r) => [r.address, r]));
  const host = await db.host.findUnique({ where: { id: input.hostId }, select: { name: true } });
  if (!host) throw new ApiError("NOT_FOUND", `host ${input.hostId} does not exist`);
  return [...new Set(input.addresses)].map((address): DryRun => {
    const row = byAddress.get(address);
    const base = { hostName: host.name, address, containerId: row?.containerId ?? "", ifName: row?.ifName ?? "" };
    if (!row) {
      return { ...base, verdict: "live", reasons: [], steps: [], refusal: `${address} is not held on ${host.name} by anything but a live attachment (or not at all): nothing to release` };
    }
    const { verdict, reasons } = judgeLease(row);
    if (verdict !== "leak") {
      const why = verdict === "other-runtime" ? "another runtime holds it and its namespace lives" : "whether its holder lives cannot be told";
      return { ...base, verdict, reasons, steps: [], refusal: `${address} is not a leak: ${why}` };
    }
    if (row.attachmentState === "detaching") {
      return { ...base, verdict, reasons, steps: [], refusal: `${address}: its console attachment ${row.attachmentId} is being detached already, which releases it` };
    }
    if (!row.containerId) {
      return { ...base, verdict, reasons, steps: [], refusal: `${address}: its lease file names no holder (unreadable or empty): the agent only releases what names a holder; look at the file on ${host.name}` };
    }
    return { ...base, verdict, reasons, steps: releaseSteps(row), refusal: null };
  });
}

function releaseSteps(row: LeaseRow): ReleaseStep[] {
  if (row.attachmentId && row.attachmentState !== "detached") {
    return [{
      kind: "detach",
      attachmentId: row.attachmentId,
      description: `detach console attachment ${row.attachmentId} (${row.attachmentState}): its namespace is gone, so its detach operation runs CNI DEL with the cached config, which releases the address; the job shows on the attachment`,
      files: [`the result cache entry ${row.networkName}-${row.containerId}-${row.ifName}`],
    }];
  }
  const leaseFile = row.dataDir ? `${row.dataDir}/${row.networkName}/${row.address}` : `<data dir>/${row.networkName}/${row.address}`;
  const holder = `container ${row.containerId}, interface ${row.ifName || "(unknown)"}`;
  const steps: ReleaseStep[] = [];
  if (row.netns || (row.seenIn & SEEN_IN.resultCache) !== 0) {
    steps.push({ kind: "cni-del-cached", description: `CNI DEL of ${row.networkName} for ${holder}, with the config, namespace and arguments the result cache holds: the plugins release the address and undo what is left of the interface`, files: [`the result cache entry ${row.networkName}-${row.containerId}-${row.ifName}`, leaseFile] });
  } else {
    steps.push({ kind: "cni-del-known", description: `CNI DEL of ${row.networkName} for ${holder} with the config the host knows (the console's or the conf dir's), no namespace: the IPAM plugin releases the address`, files: [leaseFile] });
  }
  steps.push({ kind: "cni-gc", description: `if still held: CNI GC of ${row.networkName} with every other holder on the host as the valid set (only where the config is CNI 1.1 or later and the plugins speak GC)`, files: [leaseFile] });
  steps.push({ kind: "remove-lease-file", description: `if still held: remove ${leaseFile} under host-local's lock, only if it still names ${holder}`, files: [leaseFile] });
  return steps;
}
