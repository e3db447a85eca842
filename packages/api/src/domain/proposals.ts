import type { Db, DbTx } from "@switchyard/db";
import { writeAudit } from "../audit";
import type { Context } from "../context";
import { ApiError } from "../errors";
import type { CreateProposalInput, ProposalKind, SetReviewPolicyInput } from "../schemas/proposals";
import { ServiceSpec } from "../schemas/services";
import { applyLatest, networkUsage } from "./applyLatest";
import { strandedBy, strandedWarning } from "./ipamStranded";
import { loadLatest, parseOrThrow, updateNetwork } from "./networks";
import { planServiceChange } from "./servicePlan";
import { updateService } from "./services";
import { plural, unifiedDiff } from "./text";
import { enqueueProposalAwaitingReview } from "./webhookEvents";
import { dbNow } from "../clock";

/**
 * Review before apply (issue 13 §4). A change to a network (its conflist) or a service (its spec)
 * is proposed against the target's current revision; others comment and approve; applying runs
 * the change the proposal shows and, for a network, re-applies its attachments, recording the
 * operations it started. A review policy per target (admins set it) says how many approvals by
 * people other than the author it needs, whether only while the network has attachments, and
 * whether the author may apply; a target whose policy asks for approvals is changed only through
 * proposals. A proposal whose target moved past its base revision is stale and cannot be applied.
 */

type Ctx = Pick<Context, "db" | "events" | "session" | "meta">;

export interface Policy {
  approvals: number;
  whenInUse: boolean;
  authorMayApply: boolean;
}
const NO_POLICY: Policy = { approvals: 0, whenInUse: false, authorMayApply: true };

const diffOf = (name: string, before: string, after: string) => unifiedDiff(name, { from: "current", to: "proposed" }, before, after);
const specText = (spec: ServiceSpec) => `${JSON.stringify(spec, null, 2)}\n`;

interface Target {
  name: string;
  latestRevision: number;
  /** The current revision's text (a network's conflist, a service's spec as JSON). */
  text: string;
}

async function targetOf(db: Db | DbTx, kind: ProposalKind, id: string): Promise<Target | null> {
  if (kind === "network") {
    const n = await loadLatest(db, id).catch((e: unknown) => (e instanceof ApiError && e.code === "NOT_FOUND" ? null : Promise.reject(e)));
    return n && { name: n.name, latestRevision: n.latestRevision, text: n.text };
  }
  const s = await db.service.findUnique({ where: { id }, select: { name: true, latestRevision: true, revisions: { select: { spec: true }, orderBy: { number: "desc" }, take: 1 } } });
  return s && { name: s.name, latestRevision: s.latestRevision, text: specText(ServiceSpec.parse(s.revisions[0]?.spec ?? {})) };
}

async function policyOf(db: Db | DbTx, kind: ProposalKind, targetId: string): Promise<Policy> {
  const row = await db.reviewPolicy.findUnique({ where: { kind_targetId: { kind, targetId } }, select: { approvals: true, whenInUse: true, authorMayApply: true } });
  return row ?? NO_POLICY;
}

/** The approvals a change to the target needs now, and the policy's words for it. */
export async function approvalsNeeded(db: Db | DbTx, kind: ProposalKind, targetId: string): Promise<{ needed: number; policy: Policy; rule: string }> {
  const policy = await policyOf(db, kind, targetId);
  if (policy.approvals === 0) return { needed: 0, policy, rule: "no review policy" };
  const rule = `${plural(policy.approvals, "approval")} by someone other than the author${policy.whenInUse ? " while it has attachments" : ""}`;
  if (kind === "network" && policy.whenInUse) {
    const present = await db.attachment.count({ where: { networkId: targetId, present: true } });
    if (present === 0) return { needed: 0, policy, rule };
  }
  return { needed: policy.approvals, policy, rule };
}

/** Refuses a direct change (update, rollback, delete, apply from files) to a target its policy sends through review. */
export async function requireDirectChange(db: Db | DbTx, kind: ProposalKind, targetId: string): Promise<void> {
  const { needed, rule } = await approvalsNeeded(db, kind, targetId);
  if (needed === 0) return;
  const target = await targetOf(db, kind, targetId);
  throw new ApiError("FORBIDDEN", `${kind === "network" ? "Network" : "Service"} "${target?.name ?? targetId}" is changed through proposals (review policy: ${rule}): propose the change instead`);
}

export async function createProposal(ctx: Ctx, input: CreateProposalInput): Promise<{ id: string; approvalsNeeded: number }> {
  const user = ctx.session!.user;
  const target = await targetOf(ctx.db, input.kind, input.targetId);
  if (!target) throw new ApiError("NOT_FOUND", `${input.kind === "network" ? "Network" : "Service"} ${input.targetId} not found`);
  let change: { text: string } | { spec: ServiceSpec };
  if (input.kind === "network") {
    const { conflist } = parseOrThrow(input.text, ["text"]);
    if (conflist.name !== target.name) throw new ApiError("BAD_INPUT", `The config names network "${conflist.name}": a proposal changes "${target.name}" and cannot rename it`, [{ path: ["text"], message: `name must stay "${target.name}"`, severity: "error" }]);
    if (input.text === target.text) throw new ApiError("BAD_INPUT", "The proposed config is the current one: there is nothing to review", [{ path: ["text"], message: "unchanged", severity: "error" }]);
    change = { text: input.text };
  } else {
    if (specText(input.spec) === target.text) throw new ApiError("BAD_INPUT", "The proposed spec is the current one: there is nothing to review", [{ path: ["spec"], message: "unchanged", severity: "error" }]);
    change = { spec: input.spec };
  }
  return ctx.db.$transaction(async (tx) => {
    const row = await tx.proposal.create({
      data: { kind: input.kind, targetId: input.targetId, targetName: target.name, baseRevision: target.latestRevision, change, title: input.title, authorId: user.id, authorName: user.username },
      select: { id: true },
    });
    const { needed } = await approvalsNeeded(tx, input.kind, input.targetId);
    if (needed > 0) {
      await enqueueProposalAwaitingReview(tx, { proposal: { id: row.id, title: input.title }, target: { kind: input.kind, id: input.targetId, name: target.name }, author: user.username, approvalsNeeded: needed, url: `/proposals/${row.id}` });
    }
    await writeAudit(tx, ctx, { action: "proposals.create", targetType: "proposal", targetId: row.id, targetName: input.title, after: { kind: input.kind, target: target.name, baseRevision: target.latestRevision }, outcome: "success" });
    return { id: row.id, approvalsNeeded: needed };
  });
}

type ProposalRow = NonNullable<Awaited<ReturnType<typeof loadProposal>>>;

function loadProposal(db: Db | DbTx, id: string) {
  return db.proposal.findUnique({
    where: { id },
    include: { reviews: { orderBy: { createdAt: "asc" }, select: { id: true, userId: true, userName: true, approve: true, body: true, createdAt: true } } },
  });
}

/** Distinct people other than the author who approved. */
const approversOf = (p: ProposalRow) => [...new Set(p.reviews.filter((r) => r.approve && r.userId !== p.authorId).map((r) => r.userName))];

/** Whether the caller may apply it now, and if not, why (in words a person acts on). */
async function applicability(db: Db | DbTx, p: ProposalRow, target: Target | null, callerId: string | null): Promise<{ ok: boolean; reason: string; needed: number; rule: string }> {
  const { needed, policy, rule } = await approvalsNeeded(db, p.kind, p.targetId);
  const approvals = approversOf(p).length;
  const no = (reason: string) => ({ ok: false, reason, needed, rule });
  if (p.status === "applied") return no(`it was applied by ${p.appliedByName}`);
  if (p.status === "withdrawn") return no("it was withdrawn");
  if (!target) return no(`the ${p.kind} it changes no longer exists`);
  if (target.latestRevision !== p.baseRevision) return no(`it is stale: ${p.kind} "${target.name}" moved from revision ${p.baseRevision} to ${target.latestRevision} since it was proposed; propose the change again`);
  if (approvals < needed) return no(`it needs ${plural(needed, "approval")} by someone other than the author (${rule}); it has ${approvals}`);
  if (needed > 0 && !policy.authorMayApply && callerId !== null && callerId === p.authorId) return no("the review policy does not let its author apply it: someone else must");
  return { ok: true, reason: "", needed, rule };
}

/** The plan: what applying would change, on which hosts and attachments or rules. */
async function planOf(db: Db, p: ProposalRow, target: Target) {
  const change = p.change as { text?: string; spec?: unknown };
  if (p.kind === "network") {
    const text = change.text ?? "";
    const usage = await networkUsage(db, p.targetId);
    const { conflist } = parseOrThrow(text);
    const stranded = await strandedBy(db, p.targetId, conflist);
    return {
      kind: "network" as const,
      diff: diffOf(target.name, target.text, text),
      /** Every attachment present is re-applied with the new revision when the proposal is applied. */
      reapply: { total: usage.total, hosts: usage.hosts.map((h) => ({ name: h.hostName, attachments: h.attachments })), attachments: usage.attachments.map((a) => ({ id: a.id, host: a.hostName, containerId: a.containerId, ifName: a.ifName, revision: a.networkRevision, state: a.state })) },
      stranded: { total: stranded.total, warning: strandedWarning(stranded) },
    };
  }
  const spec = ServiceSpec.parse(change.spec);
  const plan = await planServiceChange(db, { id: p.targetId, change: { kind: "update", spec } });
  return {
    kind: "service" as const,
    diff: diffOf(`${target.name}.json`, target.text, specText(spec)),
    hosts: plan.groups.map((g) => ({ change: g.change, hostCount: g.hostCount, hosts: g.hosts.map((h) => h.name), lines: g.lines })),
    unchangedHosts: plan.unchanged.hostCount,
  };
}

export async function listProposals(db: Db, q: { status?: "open" | "applied" | "withdrawn" | undefined; kind?: ProposalKind | undefined; targetId?: string | undefined }) {
  const rows = await db.proposal.findMany({
    where: { ...(q.status ? { status: q.status } : {}), ...(q.kind ? { kind: q.kind } : {}), ...(q.targetId ? { targetId: q.targetId } : {}) },
    orderBy: { createdAt: "desc" },
    take: 200,
    include: { reviews: { select: { userId: true, userName: true, approve: true } } },
  });
  const latest = new Map<string, number>();
  for (const [kind, ids] of [["network", rows.filter((r) => r.kind === "network")], ["service", rows.filter((r) => r.kind === "service")]] as const) {
    const found = kind === "network"
      ? await db.network.findMany({ where: { id: { in: ids.map((r) => r.targetId) } }, select: { id: true, latestRevision: true } })
      : await db.service.findMany({ where: { id: { in: ids.map((r) => r.targetId) } }, select: { id: true, latestRevision: true } });
    for (const f of found) latest.set(`${kind}/${f.id}`, f.latestRevision);
  }
  return rows.map(({ reviews, change: _change, ...r }) => {
    const current = latest.get(`${r.kind}/${r.targetId}`);
    return {
      ...r,
      approvals: new Set(reviews.filter((v) => v.approve && v.userId !== r.authorId).map((v) => v.userName)).size,
      comments: reviews.length,
      stale: r.status === "open" && current !== r.baseRevision,
    };
  });
}

/** A proposal with its reviews, its plan computed now, and whether the caller may apply it. */
export async function getProposal(ctx: Pick<Ctx, "db" | "session">, id: string) {
  const p = await loadProposal(ctx.db, id);
  if (!p) throw new ApiError("NOT_FOUND", `Proposal ${id} not found`);
  const target = await targetOf(ctx.db, p.kind, p.targetId);
  const can = await applicability(ctx.db, p, target, ctx.session?.user.id ?? null);
  const stale = p.status === "open" && (!target || target.latestRevision !== p.baseRevision);
  const plan = p.status === "open" && target && !stale ? await planOf(ctx.db, p, target) : null;
  const operations = p.operationIds.length
    ? await ctx.db.operation.findMany({ where: { id: { in: p.operationIds } }, select: { id: true, status: true, attachmentId: true, host: { select: { name: true } } }, orderBy: { createdAt: "asc" } })
    : [];
  return {
    ...p,
    approvers: approversOf(p),
    stale,
    currentRevision: target?.latestRevision ?? null,
    plan,
    policy: { needed: can.needed, rule: can.rule },
    canApply: { ok: can.ok, reason: can.reason },
    operations: operations.map((o) => ({ id: o.id, status: o.status, attachmentId: o.attachmentId, host: o.host.name })),
  };
}

export async function reviewProposal(ctx: Ctx, input: { id: string; approve: boolean; body: string }) {
  const user = ctx.session!.user;
  return ctx.db.$transaction(async (tx) => {
    const p = await tx.proposal.findUnique({ where: { id: input.id }, select: { id: true, title: true, status: true, authorId: true } });
    if (!p) throw new ApiError("NOT_FOUND", `Proposal ${input.id} not found`);
    if (p.status !== "open") throw new ApiError("CONFLICT", `The proposal is ${p.status}: it takes no more reviews`);
    if (input.approve && p.authorId === user.id) throw new ApiError("FORBIDDEN", "You proposed this change: an approval must come from someone else (comment instead)");
    if (!input.approve && input.body === "") throw new ApiError("BAD_INPUT", "A comment needs some text", [{ path: ["body"], message: "write something", severity: "error" }]);
    const review = await tx.proposalReview.create({ data: { proposalId: p.id, userId: user.id, userName: user.username, approve: input.approve, body: input.body }, select: { id: true } });
    await writeAudit(tx, ctx, { action: "proposals.review", targetType: "proposal", targetId: p.id, targetName: p.title, after: { approve: input.approve, body: input.body.slice(0, 200) }, outcome: "success" });
    return review;
  });
}

/**
 * Applies the proposal as planned, once: it is claimed (open → applied) before the change is
 * written, so a second apply, concurrent or later, is refused; a change that fails gives the
 * claim back. A network's attachments are then re-applied, and those operations are recorded.
 */
export async function applyProposal(ctx: Ctx, id: string) {
  const user = ctx.session!.user;
  const p = await loadProposal(ctx.db, id);
  if (!p) throw new ApiError("NOT_FOUND", `Proposal ${id} not found`);
  const target = await targetOf(ctx.db, p.kind, p.targetId);
  const can = await applicability(ctx.db, p, target, user.id);
  if (!can.ok) {
    const code = p.status !== "open" || can.reason.startsWith("it is stale") || !target ? "CONFLICT" : "FORBIDDEN";
    throw new ApiError(code, `Proposal "${p.title}" cannot be applied: ${can.reason}`);
  }
  const claimed = await ctx.db.proposal.updateMany({ where: { id, status: "open" }, data: { status: "applied", appliedAt: dbNow(), appliedByName: user.username } });
  if (claimed.count === 0) throw new ApiError("CONFLICT", `Proposal "${p.title}" cannot be applied: it was applied meanwhile`);
  const comment = `Proposal "${p.title}" (${id}), approved by ${approversOf(p).join(", ") || "no one (no review needed)"}`.slice(0, 500);
  const change = p.change as { text?: string; spec?: unknown };
  let revision: number;
  let operationIds: string[] = [];
  try {
    if (p.kind === "network") {
      const stranded = await strandedBy(ctx.db, p.targetId, parseOrThrow(change.text ?? "").conflist);
      revision = (await updateNetwork(ctx, { id: p.targetId, text: change.text ?? "", comment, expectedRevision: p.baseRevision, strandAddresses: stranded.total })).revision;
      operationIds = (await applyLatest(ctx, { networkId: p.targetId })).queued.map((q) => q.operationId);
    } else {
      revision = (await updateService(ctx, { id: p.targetId, spec: ServiceSpec.parse(change.spec), comment, expectedRevision: p.baseRevision })).revision;
    }
  } catch (e) {
    await ctx.db.proposal.updateMany({ where: { id, status: "applied", appliedRevision: null }, data: { status: "open", appliedAt: null, appliedByName: "" } });
    throw e;
  }
  await ctx.db.$transaction(async (tx) => {
    await tx.proposal.update({ where: { id }, data: { appliedRevision: revision, operationIds } });
    await writeAudit(tx, ctx, { action: "proposals.apply", targetType: "proposal", targetId: id, targetName: p.title, after: { target: p.targetName, revision, operations: operationIds.length }, outcome: "success" });
  });
  return { revision, operationIds };
}

export async function withdrawProposal(ctx: Ctx, id: string) {
  const user = ctx.session!.user;
  return ctx.db.$transaction(async (tx) => {
    const p = await tx.proposal.findUnique({ where: { id }, select: { id: true, title: true, status: true, authorId: true } });
    if (!p) throw new ApiError("NOT_FOUND", `Proposal ${id} not found`);
    if (p.authorId !== user.id && user.role !== "admin") throw new ApiError("FORBIDDEN", "Only its author or an admin may withdraw a proposal");
    const done = await tx.proposal.updateMany({ where: { id, status: "open" }, data: { status: "withdrawn" } });
    if (done.count === 0) throw new ApiError("CONFLICT", `The proposal is ${p.status}: it cannot be withdrawn`);
    await writeAudit(tx, ctx, { action: "proposals.withdraw", targetType: "proposal", targetId: id, targetName: p.title, outcome: "success" });
    return { withdrawn: true };
  });
}

/** Sets (or, with 0 approvals, removes) the review policy of a network or service. */
export async function setReviewPolicy(ctx: Ctx, input: SetReviewPolicyInput) {
  const user = ctx.session!.user;
  const target = await targetOf(ctx.db, input.kind, input.targetId);
  if (!target) throw new ApiError("NOT_FOUND", `${input.kind === "network" ? "Network" : "Service"} ${input.targetId} not found`);
  return ctx.db.$transaction(async (tx) => {
    const before = await policyOf(tx, input.kind, input.targetId);
    const key = { kind_targetId: { kind: input.kind, targetId: input.targetId } };
    if (input.approvals === 0) await tx.reviewPolicy.deleteMany({ where: { kind: input.kind, targetId: input.targetId } });
    else {
      const data = { approvals: input.approvals, whenInUse: input.kind === "network" && input.whenInUse, authorMayApply: input.authorMayApply, updatedByName: user.username };
      await tx.reviewPolicy.upsert({ where: key, create: { kind: input.kind, targetId: input.targetId, ...data }, update: data });
    }
    await writeAudit(tx, ctx, { action: "proposals.setPolicy", targetType: input.kind, targetId: input.targetId, targetName: target.name, before, after: { approvals: input.approvals, whenInUse: input.whenInUse, authorMayApply: input.authorMayApply }, outcome: "success" });
    return { kind: input.kind, targetId: input.targetId, approvals: input.approvals };
  });
}

/** Every review policy, with its target's name. */
export async function listPolicies(db: Db) {
  const rows = await db.reviewPolicy.findMany({ orderBy: { updatedAt: "desc" } });
  const names = new Map<string, string>();
  for (const n of await db.network.findMany({ where: { id: { in: rows.filter((r) => r.kind === "network").map((r) => r.targetId) } }, select: { id: true, name: true } })) names.set(`network/${n.id}`, n.name);
  for (const s of await db.service.findMany({ where: { id: { in: rows.filter((r) => r.kind === "service").map((r) => r.targetId) } }, select: { id: true, name: true } })) names.set(`service/${s.id}`, s.name);
  return rows.map((r) => ({ ...r, targetName: names.get(`${r.kind}/${r.targetId}`) ?? "(deleted)" }));
}
