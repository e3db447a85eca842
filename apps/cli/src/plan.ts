import { type Colors, fieldPath } from "./format";

/** files.plan and files.applyPlan, as the console's files router answers them (issue 13 §2): its own types. */
export type { AppliedChange as Applied, FileChange as PlanChange, FilesPlan } from "@switchyard/api/schemas/files";
import type { FileChange as PlanChange, FilesPlan } from "@switchyard/api/schemas/files";

/** `file: field.path: message`, or `file: message` when the whole file is wrong. */
export function fileIssue(file: string, path: readonly (string | number)[], message: string): string {
  const field = fieldPath(path);
  return field ? `${file}: ${field}: ${message}` : `${file}: ${message}`;
}

export const planErrors = (plan: Pick<FilesPlan, "errors">) => plan.errors.map((e) => fileIssue(e.file, e.path, e.message));

/** The changes that are not "unchanged". */
export const pendingChanges = (plan: Pick<FilesPlan, "changes">) => plan.changes.filter((c) => c.action !== "unchanged");

const SIGN = { create: "+", update: "~", delete: "-", unchanged: "=" } as const;

/** The diff as people read it: one header per change, its diff lines, impact and warnings; unchanged ones only when verbose. */
export function renderPlan(plan: Pick<FilesPlan, "changes">, opts: { c: Colors; verbose: boolean }): string {
  const { c } = opts;
  const colour = { create: c.green, update: c.yellow, delete: c.red, unchanged: c.dim } as const;
  let out = "";
  for (const ch of plan.changes) {
    if (ch.action === "unchanged" && !opts.verbose) continue;
    const head = `${SIGN[ch.action]} ${ch.kind} ${ch.name}${ch.file ? ` (${ch.file})` : ""}: ${ch.action}`;
    out += `${colour[ch.action](c.bold(head))}\n`;
    for (const line of ch.diff.split("\n")) {
      if (line === "") continue;
      out += `    ${line.startsWith("+") ? c.green(line) : line.startsWith("-") ? c.red(line) : c.dim(line)}\n`;
    }
    for (const i of ch.impact) out += `    ${c.cyan(`impact: ${i}`)}\n`;
    for (const w of ch.warnings) out += `    ${c.yellow(`warning: ${w}`)}\n`;
  }
  return out;
}

export function planSummary(plan: Pick<FilesPlan, "changes">): string {
  const n = (a: PlanChange["action"]) => plan.changes.filter((ch) => ch.action === a).length;
  return `${n("create")} to create, ${n("update")} to update, ${n("delete")} to delete, ${n("unchanged")} unchanged`;
}
