import { resolve } from "node:path";
import type { ConsoleClient } from "../client";
import { trpcCode } from "../client";
import type { Ctx } from "../context";
import { CliError, EXIT } from "../exit";
import { formatJson } from "../format";
import { readTeamFiles, shortPath, type TeamFile, writeExport } from "../files";
import { type Applied, type FilesPlan, fileIssue, pendingChanges, planErrors, planSummary, renderPlan } from "../plan";
import { confirm } from "../prompt";

type FilesApi = ConsoleClient["files"];
/** A plan's input is the files themselves: POSTed, never in a URL. */
const POST = ["files.plan"] as const;

type FileOpts = { filename: string[]; prune?: boolean; exitCode?: boolean; yes?: boolean; dryRun?: boolean };

function read(ctx: Ctx, opts: FileOpts): TeamFile[] {
  const { files, ignored } = readTeamFiles(opts.filename);
  for (const i of ignored) ctx.note(`ignored (not a network or service file): ${shortPath(i)}`);
  ctx.note(`read ${files.length} file(s) from ${opts.filename.map(shortPath).join(", ")}`);
  return files;
}

/** Plans, prints the diff (or the errors: exit 1); returns the plan and whether anything would change. */
async function planAndShow(ctx: Ctx, files: TeamFile[], opts: FileOpts, json: (plan: FilesPlan) => unknown): Promise<{ plan: FilesPlan; api: FilesApi; pending: number }> {
  const api = (await ctx.client({ postQueries: POST })).files;
  const plan = await api.plan.query({ files, prune: !!opts.prune });
  const pending = pendingChanges(plan).length;
  // -o json: one document on stdout (diff: the plan; apply: the plan and what was applied)
  if (ctx.format === "json" && (!plan.ok || pending === 0 || opts.dryRun)) ctx.out(formatJson(json(plan)));
  if (ctx.format === "table") ctx.out(renderPlan(plan, { c: ctx.c, verbose: ctx.verbose }));
  if (!plan.ok) {
    throw new CliError(EXIT.failed, `the files are not valid: nothing was applied (${plan.errors.length} error${plan.errors.length === 1 ? "" : "s"})`, planErrors(plan));
  }
  if (ctx.format === "table") {
    if (pending === 0) ctx.out(`Nothing to change: the console matches ${opts.filename.map(shortPath).join(", ")} (${plan.changes.length} unchanged).\n`);
    else ctx.out(`Plan: ${planSummary(plan)}.\n`);
  }
  const deletes = plan.changes.filter((ch) => ch.action === "delete").length;
  if (!opts.prune && deletes === 0) ctx.note("things on the console without a file are kept (pass --prune to delete them)");
  return { plan, api, pending };
}

/** `switchyard diff -f PATH`: the plan only. */
export async function diff(ctx: Ctx, opts: FileOpts): Promise<number> {
  const { pending } = await planAndShow(ctx, read(ctx, opts), { ...opts, dryRun: true }, (plan) => plan);
  return pending > 0 && opts.exitCode ? EXIT.diff : EXIT.ok;
}

/** `switchyard apply -f PATH`: the plan, then (confirmed or --yes) the apply against the plan's digest. */
export async function apply(ctx: Ctx, opts: FileOpts): Promise<number> {
  const files = read(ctx, opts);
  const { plan, api, pending } = await planAndShow(ctx, files, opts, (p) => ({ plan: p, applied: [] }));
  const changed = opts.exitCode ? EXIT.diff : EXIT.ok;
  if (pending === 0) return EXIT.ok;
  if (opts.dryRun) return changed;
  const url = ctx.settings().url;
  if (!(await confirm(`Apply ${pending} change${pending === 1 ? "" : "s"} to ${url}?`, { yes: !!opts.yes, flagHint: "apply (or --dry-run to only show the diff)" }))) {
    throw new CliError(EXIT.failed, "apply cancelled: nothing was applied");
  }
  let result: { applied: Applied[] };
  try {
    result = await api.applyPlan.mutate({ files, prune: !!opts.prune, expectedDigest: plan.digest });
  } catch (error) {
    const code = trpcCode(error);
    const e = error as { message: string; data?: { issues?: { path: (string | number)[]; message: string; severity?: string }[] } };
    if (code === "CONFLICT") throw new CliError(EXIT.failed, `nothing was applied: ${e.message} (the console changed since the diff above: run again to see the new diff)`);
    if (code === "BAD_REQUEST") {
      const issues = (e.data?.issues ?? []).filter((i) => i.severity !== "warning").map((i) => fileIssue(String(i.path[0] ?? "input"), i.path.slice(1), i.message));
      throw new CliError(EXIT.failed, `nothing was applied: ${e.message}`, issues);
    }
    throw error;
  }
  if (ctx.format === "json") ctx.out(formatJson({ plan, applied: result.applied }));
  else {
    for (const a of result.applied) ctx.out(`${a.action === "create" ? "created" : a.action === "update" ? "updated" : "deleted"} ${a.kind} ${a.name}${a.revision !== undefined ? ` (revision ${a.revision})` : ""}\n`);
    ctx.out(`Applied ${result.applied.length} change${result.applied.length === 1 ? "" : "s"}.\n`);
  }
  return changed;
}

/** `switchyard export DIR`: the console's networks and services as files. */
export async function exportFiles(ctx: Ctx, dir: string): Promise<number> {
  const api = (await ctx.client()).files;
  const files = await api.export.query();
  const outcome = writeExport(resolve(dir), files);
  if (ctx.format === "json") ctx.out(formatJson(outcome));
  else {
    for (const p of outcome.written) ctx.out(`wrote ${p}\n`);
    for (const p of outcome.unchanged) ctx.note(`unchanged ${p}`);
    ctx.out(`Exported ${files.length} file${files.length === 1 ? "" : "s"} to ${shortPath(resolve(dir))} (${outcome.written.length} written, ${outcome.unchanged.length} unchanged).\n`);
  }
  for (const p of outcome.notFromConsole) ctx.note(`not from the console (left as it is; \`apply\` would create it): ${p}`);
  return EXIT.ok;
}
