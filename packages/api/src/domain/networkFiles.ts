import { conflistFileName, findSubnetOverlaps, isSingleConfText, parseNetworkConfig, type ConfigIssue, type Conflist } from "@switchyard/cni/config";
import { Prisma, type Db } from "@switchyard/db";
import type { Within } from "../auth/tokenLimits";
import { writeAudit } from "../audit";
import { ApiError } from "../errors";
import { refuseUnagreedStranding, strandedBy, strandedWarning } from "./ipamStranded";
import { asJson, loadLatest, parseOrThrow, type Ctx } from "./networks";
import { indexSubnets, overlapWarnings } from "./networkSubnets";
import { dbNow } from "../clock";

export interface ExportFile {
  fileName: string;
  text: string;
}

/**
 * Files named the way /etc/cni/net.d expects, one per network, each the latest revision's text
 * byte for byte. One query whatever the number of networks.
 */
export async function exportNetworks(db: Db, id?: string, within: Within | null = null): Promise<ExportFile[]> {
  const rows = await db.$queryRaw<{ name: string; text: string }[]>`
    SELECT n.name, r.text
    FROM "Network" n
    JOIN "NetworkRevision" r ON r."networkId" = n.id AND r.number = n."latestRevision"
    WHERE (${id ?? null}::text IS NULL OR n.id = ${id ?? null}::text)
      ${within ? Prisma.sql`AND n.id = ANY (string_to_array(${[...within.networkIds].join(",")}::text, ','))` : Prisma.empty}
    ORDER BY n.name`;
  if (id && rows.length === 0) throw new ApiError("NOT_FOUND", `Network ${id} not found`);
  return rows.map((r) => ({ fileName: networkFileName(r.name, r.text), text: r.text }));
}

/** A network's file name as /etc/cni/net.d expects it: `.conf` for a single-plugin config, else `.conflist`. */
export function networkFileName(name: string, text: string): string {
  const fileName = conflistFileName({ name });
  // A single-plugin .conf (no `plugins`) is exported as a .conf: its text stays as written.
  return isSingleConfText(text) ? fileName.replace(/\.conflist$/, ".conf") : fileName;
}

export interface ImportOutcome {
  fileName: string;
  name: string;
  networkId: string;
  action: "created" | "updated" | "unchanged";
  revision: number;
}

type ImportFile = { fileName: string; text: string; strandAddresses?: number | undefined };

function refuseDuplicateNames(parsed: { fileName: string; conflist: Conflist }[]) {
  const names = new Set<string>();
  for (const [i, p] of parsed.entries()) {
    if (names.has(p.conflist.name)) {
      throw new ApiError("BAD_INPUT", `Two files define network "${p.conflist.name}"`, [
        { path: ["files", i, p.fileName, "name"], message: `"${p.conflist.name}" appears twice`, severity: "error" },
      ]);
    }
    names.add(p.conflist.name);
  }
}

/**
 * Imports files all-or-nothing: if any file is invalid, nothing is written. A file whose network
 * exists becomes a new revision unless its text is the latest revision's, byte for byte.
 */
export async function importNetworks(ctx: Ctx, files: ImportFile[]): Promise<ImportOutcome[]> {
  const parsed = files.map((f, i) => ({ ...f, ...parseOrThrow(f.text, ["files", i, f.fileName]) }));
  refuseDuplicateNames(parsed);
  const actor = ctx.session!.user;
  const outcomes = await ctx.db.$transaction(async (tx) => {
    const results: ImportOutcome[] = [];
    for (const p of parsed) {
      const existing = await tx.network.findUnique({ where: { name: p.conflist.name }, select: { id: true } });
      const revision = { conflist: asJson(p.conflist), text: p.text, comment: `Imported from ${p.fileName}`, authorId: actor.id, authorName: actor.username };
      if (!existing) {
        const network = await tx.network.create({
          data: { name: p.conflist.name, latestRevision: 1, revisions: { create: { number: 1, ...revision } } },
          select: { id: true },
        });
        await indexSubnets(tx, network.id, p.conflist);
        await writeAudit(tx, ctx, { action: "networks.import", targetType: "network", targetId: network.id, after: { name: p.conflist.name, revision: 1, conflist: p.conflist, fileName: p.fileName }, outcome: "success" });
        results.push({ fileName: p.fileName, name: p.conflist.name, networkId: network.id, action: "created", revision: 1 });
        continue;
      }
      const before = await loadLatest(tx, existing.id);
      if (before.text === p.text) {
        results.push({ fileName: p.fileName, name: p.conflist.name, networkId: existing.id, action: "unchanged", revision: before.latestRevision });
        continue;
      }
      await refuseUnagreedStranding(tx, existing.id, before, p.conflist, p.strandAddresses);
      const number = before.latestRevision + 1;
      await tx.network.update({ where: { id: existing.id }, data: { latestRevision: number } });
      await tx.networkRevision.create({ data: { networkId: existing.id, number, ...revision } });
      await indexSubnets(tx, existing.id, p.conflist);
      await writeAudit(tx, ctx, {
        action: "networks.import",
        targetType: "network",
        targetId: existing.id,
        before: { name: before.name, revision: before.latestRevision, conflist: before.conflist },
        after: { name: p.conflist.name, revision: number, conflist: p.conflist, fileName: p.fileName },
        outcome: "success",
      });
      results.push({ fileName: p.fileName, name: p.conflist.name, networkId: existing.id, action: "updated", revision: number });
    }
    return results;
  });
  for (const o of outcomes) {
    if (o.action === "unchanged") continue;
    ctx.events.publish("network", { kind: o.action, networkId: o.networkId, name: o.name, revision: o.revision, actor: actor.username, at: dbNow() });
  }
  return outcomes;
}

export interface ImportPreviewFile {
  fileName: string;
  /** The network the file defines, when it parses. */
  name?: string;
  /** What importing would do; absent when the file is invalid. */
  action?: "create" | "update" | "unchanged";
  errors: ConfigIssue[];
  /** The config's own warnings, overlaps with other networks and with the other files. */
  warnings: ConfigIssue[];
  /** Held addresses the update would strand: importing it needs this count as `strandAddresses`. */
  stranded?: number;
}

/**
 * What importing `files` would do, file by file, without writing anything: errors (the import
 * would refuse them all), whether each creates, updates or leaves a network unchanged, and the
 * overlap warnings, with existing networks and between the files themselves.
 */
export async function previewImport(db: Db, files: ImportFile[]): Promise<{ ok: boolean; files: ImportPreviewFile[] }> {
  const parsed = files.map((f) => ({ ...f, result: parseNetworkConfig(f.text) }));
  const valid = parsed.flatMap((p) => (p.result.ok ? [{ name: p.result.conflist.name, conflist: p.result.conflist }] : []));
  const existing = await db.$queryRaw<{ id: string; name: string; text: string }[]>`
    SELECT n.id, n.name, r.text
    FROM "Network" n
    JOIN "NetworkRevision" r ON r."networkId" = n.id AND r.number = n."latestRevision"
    WHERE n.name IN (SELECT jsonb_array_elements_text(${JSON.stringify(valid.map((v) => v.name))}::jsonb))`;
  const byName = new Map(existing.map((e) => [e.name, e]));
  const seen = new Map<string, number>();
  const out: ImportPreviewFile[] = [];
  for (const p of parsed) {
    if (!p.result.ok) {
      out.push({ fileName: p.fileName, errors: p.result.errors, warnings: p.result.warnings });
      continue;
    }
    const { conflist } = p.result;
    const twice = seen.has(conflist.name);
    seen.set(conflist.name, (seen.get(conflist.name) ?? 0) + 1);
    const current = byName.get(conflist.name);
    const inBatch = valid.filter((v) => v.conflist !== conflist);
    const warnings = [...p.result.warnings, ...(await overlapWarnings(db, conflist, current?.id)), ...findSubnetOverlaps(conflist, inBatch).map((w) => ({ ...w, message: `${w.message} (in this import)` }))];
    const action = !current ? "create" : current.text === p.text ? "unchanged" : "update";
    // An update may move the ranges away from addresses hosts hold: said before the import, as the editor does.
    const found = action === "update" ? await strandedBy(db, current!.id, conflist) : null;
    const stranded = found ? strandedWarning(found) : null;
    if (stranded) warnings.push({ path: ["ipam"], message: stranded, severity: "warning" });
    out.push({
      fileName: p.fileName,
      name: conflist.name,
      action,
      errors: twice ? [{ path: ["name"], message: `another file also defines network "${conflist.name}"`, severity: "error" }] : [],
      warnings,
      stranded: found?.total ?? 0,
    });
  }
  return { ok: out.every((f) => f.errors.length === 0), files: out };
}
