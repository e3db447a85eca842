import { createHash } from "node:crypto";
import type { Db, DbTx } from "@switchyard/db";
import type { Context } from "../context";
import { ApiError } from "../errors";
import {
  type AppliedChange,
  type ApplyFilesInput,
  type FileChange,
  type FileIssue,
  type FilesInput,
  type FilesPlan,
  ServiceFile,
  SERVICES_DIR,
  fileKind,
  serviceFilePath,
  serviceFileText,
} from "../schemas/files";
import { ServiceSpec } from "../schemas/services";
import { networkUsage } from "./applyLatest";
import { exportNetworks, importNetworks, networkFileName, previewImport } from "./networkFiles";
import { deleteNetwork } from "./networks";
import { requireDirectChange } from "./proposals";
import { planServiceChange } from "./servicePlan";
import { checkSpec, createService, deleteService, updateService } from "./services";
import { vipProblem } from "./serviceVips";
import { plural, unifiedDiff } from "./text";

/**
 * A team's networks and services as files (issue 13 §2): plan what making the console match a
 * directory would do, apply exactly that plan, and export the files back. The CLI's `apply -f`,
 * `diff` and `export` are these three calls. Nothing is applied unless every file is valid, and an
 * apply whose plan no longer holds (the console moved on since it was shown) is refused whole.
 */

type Ctx = Pick<Context, "db" | "events" | "session" | "meta">;

const diffOf = (file: string, before: string, after: string) => unifiedDiff(file, { from: "console", to: "files" }, before, after);

/** What applying needs beyond the plan it shows: ids and the revisions the plan was made against. */
interface Planned {
  plan: FilesPlan;
  networkFiles: { fileName: string; text: string; strandAddresses: number }[];
  services: { change: FileChange; id: string | null; revision: number; file: ServiceFile | null }[];
  deletedNetworks: { id: string; name: string }[];
}

interface CurrentService {
  id: string;
  name: string;
  vip: string;
  family: number;
  latestRevision: number;
  spec: ServiceSpec;
}

async function currentServices(db: Db | DbTx): Promise<Map<string, CurrentService>> {
  const rows = await db.service.findMany({ select: { id: true, name: true, vip: true, family: true, latestRevision: true, revisions: { select: { number: true, spec: true }, orderBy: { number: "desc" }, take: 1 } } });
  return new Map(rows.map(({ revisions, ...s }) => [s.name, { ...s, spec: ServiceSpec.parse(revisions[0]?.spec ?? {}) }]));
}

async function planNetworks(db: Db, files: FilesInput["files"], errors: FileIssue[], changes: FileChange[], planned: Planned) {
  const networkFiles = files.filter((f) => fileKind(f.path) === "network").map((f) => ({ fileName: f.path, text: f.text }));
  const preview = networkFiles.length ? await previewImport(db, networkFiles) : { files: [] };
  const existing = new Map(
    (await db.$queryRaw<{ id: string; name: string; text: string; latestRevision: number }[]>`
      SELECT n.id, n.name, r.text, n."latestRevision" FROM "Network" n JOIN "NetworkRevision" r ON r."networkId" = n.id AND r.number = n."latestRevision"`).map((n) => [n.name, n]),
  );
  for (const [i, f] of preview.files.entries()) {
    const text = networkFiles[i]!.text;
    for (const e of f.errors) errors.push({ file: f.fileName, path: e.path, message: e.message });
    if (f.errors.length || !f.name || !f.action) continue;
    const current = existing.get(f.name);
    const reviewed = f.action === "update" && current ? await underReview(db, "network", current.id) : null;
    if (reviewed) {
      errors.push({ file: f.fileName, path: [], message: reviewed });
      continue;
    }
    const impact: string[] = [];
    if (f.action === "update" && current) {
      const usage = await networkUsage(db, current.id);
      if (usage.total > 0) impact.push(`${plural(usage.total, "attachment")} on ${plural(usage.hosts.length, "host")} keep revision ${current.latestRevision} until re-applied (networks.applyLatest, "Apply latest" on its page)`);
      if (f.stranded) impact.push(`${plural(f.stranded, "address", "addresses")} hosts hold fall outside the new ranges: applying agrees to strand them`);
    }
    changes.push({ kind: "network", name: f.name, action: f.action, file: f.fileName, diff: f.action === "unchanged" ? "" : diffOf(f.fileName, current?.text ?? "", text), impact, warnings: f.warnings.map((w) => w.message) });
    if (f.action !== "unchanged") planned.networkFiles.push({ fileName: f.fileName, text, strandAddresses: f.stranded ?? 0 });
  }
  return existing;
}

async function planServices(db: Db, files: FilesInput["files"], errors: FileIssue[], planned: Planned) {
  const existing = await currentServices(db);
  const named = new Set<string>();
  for (const f of files.filter((x) => fileKind(x.path) === "service")) {
    let json: unknown;
    try {
      json = JSON.parse(f.text);
    } catch (e) {
      errors.push({ file: f.path, path: [], message: `not JSON: ${(e as Error).message}` });
      continue;
    }
    const parsed = ServiceFile.safeParse(json);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) errors.push({ file: f.path, path: issue.path.map((p) => (typeof p === "symbol" ? String(p) : p)), message: issue.message });
      continue;
    }
    const file = parsed.data;
    if (serviceFilePath(file.name) !== f.path) {
      errors.push({ file: f.path, path: ["name"], message: `the file defines service "${file.name}": name it ${serviceFilePath(file.name)}` });
      continue;
    }
    if (named.has(file.name)) {
      errors.push({ file: f.path, path: ["name"], message: `another file also defines service "${file.name}"` });
      continue;
    }
    named.add(file.name);
    const current = existing.get(file.name);
    if (current && file.vip !== undefined && file.vip !== current.vip) {
      errors.push({ file: f.path, path: ["vip"], message: `service "${file.name}" has VIP ${current.vip}: a VIP cannot change (delete the service and create it again)` });
      continue;
    }
    const problems = await serviceProblems(db, file, current);
    if (problems.length) {
      errors.push(...problems.map((p) => ({ file: f.path, ...p })));
      continue;
    }
    const before = current ? serviceFileText(current) : "";
    const after = serviceFileText({ name: file.name, vip: file.vip ?? current?.vip ?? "(allocated)", spec: file.spec });
    const action = !current ? "create" : before === after ? "unchanged" : "update";
    const reviewed = action === "update" ? await underReview(db, "service", current!.id) : null;
    if (reviewed) {
      errors.push({ file: f.path, path: [], message: reviewed });
      continue;
    }
    const impact: string[] = [];
    if (action === "update") {
      const plan = await planServiceChange(db, { id: current!.id, change: { kind: "update", spec: file.spec } });
      const count = (c: string) => plan.groups.filter((g) => g.change === c).reduce((n, g) => n + g.hostCount, 0);
      const [updated, gained, lost] = [count("update"), count("gained"), count("lost")];
      if (updated + gained + lost === 0) impact.push("no host's rules change");
      else impact.push(`rules change on ${plural(updated + gained + lost, "host")}${gained ? `, ${gained} gaining the service` : ""}${lost ? `, ${lost} losing it` : ""}`);
    }
    if (action === "create") impact.push(file.vip ? `VIP ${file.vip}` : "a VIP is allocated from the service CIDRs");
    const change: FileChange = { kind: "service", name: file.name, action, file: f.path, diff: action === "unchanged" ? "" : diffOf(f.path, before, after), impact, warnings: [] };
    planned.services.push({ change, id: current?.id ?? null, revision: current?.latestRevision ?? 0, file });
  }
  return existing;
}

/** What the console would refuse when applying a valid file (members in a service CIDR, unknown hosts, a VIP taken): said now, with the field. */
async function serviceProblems(db: Db, file: ServiceFile, current: CurrentService | undefined): Promise<Omit<FileIssue, "file">[]> {
  const family = (current?.family ?? (file.vip?.includes(":") ? 6 : 4)) as 4 | 6;
  const problems: Omit<FileIssue, "file">[] = [];
  try {
    await db.$transaction((tx) => checkSpec(tx, file.spec, family));
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    problems.push(...(e.issues.length ? e.issues.map((i) => ({ path: i.path, message: i.message })) : [{ path: ["spec"], message: e.message }]));
  }
  const vipTaken = !current && file.vip !== undefined ? await db.$transaction((tx) => vipProblem(tx, file.vip!)) : null;
  if (vipTaken) problems.push({ path: ["vip"], message: vipTaken });
  return problems;
}

async function computePlan(db: Db, input: FilesInput): Promise<Planned> {
  const errors: FileIssue[] = [];
  const changes: FileChange[] = [];
  const planned: Planned = { plan: { ok: false, errors, changes, digest: "" }, networkFiles: [], services: [], deletedNetworks: [] };
  const networks = await planNetworks(db, input.files, errors, changes, planned);
  const services = await planServices(db, input.files, errors, planned);
  changes.push(...planned.services.map((s) => s.change));
  if (input.prune) {
    // A service is kept when a file is named for it, valid or not (as networks are, below).
    const keptServices = new Set(input.files.filter((x) => fileKind(x.path) === "service").map((x) => x.path.slice(SERVICES_DIR.length + 1, -".json".length)));
    for (const s of [...services.values()].filter((x) => !keptServices.has(x.name))) {
      const reviewed = await underReview(db, "service", s.id);
      if (reviewed) {
        errors.push({ file: serviceFilePath(s.name), path: [], message: `--prune would delete it: ${reviewed}` });
        continue;
      }
      const change: FileChange = { kind: "service", name: s.name, action: "delete", file: null, diff: diffOf(serviceFilePath(s.name), serviceFileText(s), ""), impact: [`VIP ${s.vip} and its rules leave every host`], warnings: [] };
      changes.push(change);
      planned.services.push({ change, id: s.id, revision: s.latestRevision, file: null });
    }
    // A network is kept when a file names it, valid or not: an invalid file fails the plan, never deletes its network.
    const keptNetworks = new Set(changes.filter((c) => c.kind === "network").map((c) => c.name));
    for (const f of input.files.filter((x) => fileKind(x.path) === "network")) {
      const name = nameInText(f.text);
      if (name) keptNetworks.add(name);
    }
    for (const n of [...networks.values()].filter((x) => !keptNetworks.has(x.name))) {
      const inUse = await db.attachment.count({ where: { networkId: n.id, state: { not: "detached" } } });
      const fileName = networkFileName(n.name, n.text);
      const reviewed = await underReview(db, "network", n.id);
      if (reviewed) {
        errors.push({ file: fileName, path: [], message: `--prune would delete it: ${reviewed}` });
        continue;
      }
      if (inUse > 0) {
        errors.push({ file: fileName, path: [], message: `--prune would delete network "${n.name}", which ${plural(inUse, "attachment")} on hosts still use: detach them first, or keep its file` });
        continue;
      }
      changes.push({ kind: "network", name: n.name, action: "delete", file: null, diff: diffOf(fileName, n.text, ""), impact: [], warnings: [] });
      planned.deletedNetworks.push({ id: n.id, name: n.name });
    }
  }
  const revisions = [...networks.values()].map((n) => [n.name, n.latestRevision]).concat([...services.values()].map((s) => [s.name, s.latestRevision]));
  planned.plan.ok = errors.length === 0;
  planned.plan.digest = createHash("sha256")
    .update(JSON.stringify({ changes: changes.map((c) => [c.kind, c.name, c.action, c.diff, c.impact]), revisions: revisions.sort(), errors: errors.length }))
    .digest("hex");
  return planned;
}

/** Why a change to the target must go through a proposal (its review policy), or null. */
async function underReview(db: Db, kind: "network" | "service", id: string): Promise<string | null> {
  return requireDirectChange(db, kind, id).then(
    () => null,
    (e: unknown) => (e instanceof ApiError && e.code === "FORBIDDEN" ? e.message : Promise.reject(e)),
  );
}

/** The `name` a network file's text declares, when it is JSON with one (for --prune's keep list). */
function nameInText(text: string): string | null {
  try {
    const value = JSON.parse(text) as { name?: unknown };
    return typeof value?.name === "string" ? value.name : null;
  } catch {
    return null;
  }
}

/** What applying `input` would do, file by file: nothing is written. */
export async function planFiles(db: Db, input: FilesInput): Promise<FilesPlan> {
  return (await computePlan(db, input)).plan;
}

/**
 * Applies the plan `input.expectedDigest` names, or nothing: every file must be valid and the
 * console where the plan left it. Networks are written first, in one transaction (all or none),
 * then services, then deletions; a failure part-way says what was applied before it.
 */
export async function applyFiles(ctx: Ctx, input: ApplyFilesInput) {
  const { plan, networkFiles, services, deletedNetworks } = await computePlan(ctx.db, input);
  if (!plan.ok) {
    throw new ApiError(
      "BAD_INPUT",
      `${plural(plan.errors.length, "problem")} in the files; nothing was applied: ${plan.errors.slice(0, 3).map((e) => `${e.file}${e.path.length ? ` (${e.path.join(".")})` : ""}: ${e.message}`).join("; ")}`,
      plan.errors.map((e) => ({ path: [e.file, ...e.path], message: e.message, severity: "error" as const })),
    );
  }
  if (plan.digest !== input.expectedDigest) throw new ApiError("CONFLICT", "The console changed since this plan was made; nothing was applied: plan again and review the new diff");
  const applied: AppliedChange[] = [];
  const done = (e: unknown) => {
    if (applied.length === 0 || !(e instanceof ApiError)) return e;
    return new ApiError(e.code, `${e.message} (after applying ${applied.map((a) => `${a.action} ${a.kind} ${a.name}`).join(", ")})`, e.issues);
  };
  try {
    if (networkFiles.length) {
      for (const o of await importNetworks(ctx, networkFiles)) {
        if (o.action !== "unchanged") applied.push({ kind: "network", name: o.name, action: o.action === "created" ? "create" : "update", revision: o.revision });
      }
    }
    for (const s of services) {
      const { change, file } = s;
      const comment = `Applied from ${change.file ?? "files (--prune)"}`;
      if (change.action === "create" && file) {
        const made = await createService(ctx, { name: file.name, ...(file.vip ? { vip: file.vip } : {}), family: 4, spec: file.spec, comment });
        applied.push({ kind: "service", name: file.name, action: "create", revision: made.revision });
      } else if (change.action === "update" && file) {
        const saved = await updateService(ctx, { id: s.id!, spec: file.spec, comment, expectedRevision: s.revision });
        applied.push({ kind: "service", name: file.name, action: "update", revision: saved.revision });
      } else if (change.action === "delete") {
        await deleteService(ctx, { id: s.id!, confirmName: change.name });
        applied.push({ kind: "service", name: change.name, action: "delete" });
      }
    }
    for (const n of deletedNetworks) {
      await deleteNetwork(ctx, { id: n.id, confirmName: n.name });
      applied.push({ kind: "network", name: n.name, action: "delete" });
    }
  } catch (e) {
    throw done(e);
  }
  return { applied };
}

/** Every network and service as files: what `switchyard export DIR` writes, byte for byte what the console holds for networks. */
export async function exportFiles(db: Db): Promise<{ path: string; text: string }[]> {
  const networks = (await exportNetworks(db)).map((f) => ({ path: f.fileName, text: f.text }));
  const services = [...(await currentServices(db)).values()].sort((a, b) => a.name.localeCompare(b.name)).map((s) => ({ path: serviceFilePath(s.name), text: serviceFileText(s) }));
  return [...networks, ...services];
}
