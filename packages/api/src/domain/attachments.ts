import { type Db, type DbTx, type OperationKind, type Prisma } from "@switchyard/db";
import { writeAudit } from "../audit";
import type { Context } from "../context";
import { ApiError } from "../errors";
import type { CreateAttachmentInput } from "../schemas";
import { checkHostIps, checkPortMappings, findInterfaceHolder, INTERFACE_HELD_INDEX, interfaceHeld, isViolationOf, namespaceKey, portHeld, type InterfaceHolder, type PortHolder } from "./attachment-refusals";
import { toAttachmentView } from "./parsed";
import { ensureHostBlock, hasBlockPolicy } from "./ipamBlocks";
import { dbNow } from "../clock";

type Ctx = Pick<Context, "db" | "events" | "session" | "meta" | "reservedHostPorts">;

const ATTACHMENT_SELECT = {
  id: true,
  hostId: true,
  host: { select: { name: true } },
  networkId: true,
  networkName: true,
  networkRevision: true,
  containerId: true,
  ifName: true,
  targetKind: true,
  target: true,
  capabilityArgs: true,
  labels: true,
  present: true,
  generation: true,
  state: true,
  result: true,
  lastError: true,
  createdByName: true,
  createdAt: true,
  updatedAt: true,
} satisfies Prisma.AttachmentSelect;
/** The attachment's own columns: a write selecting only these is one INSERT/UPDATE … RETURNING. */
const { host: _host, ...ATTACHMENT_ROW_SELECT } = ATTACHMENT_SELECT;

export const OPERATION_SELECT = {
  id: true,
  seq: true,
  hostId: true,
  attachmentId: true,
  kind: true,
  generation: true,
  status: true,
  attempt: true,
  maxAttempts: true,
  notBefore: true,
  result: true,
  error: true,
  requestedByName: true,
  createdAt: true,
  startedAt: true,
  finishedAt: true,
  /** reapply: the revision it moves to; detach: the revision it DELs with (the way out, attachmentRecovery.ts). */
  toRevision: true,
} satisfies Prisma.OperationSelect;

/** A sandbox's namespace name when none is given: short, unique enough, CNI-safe. */
function sandboxName(): string {
  return `sy-${crypto.randomUUID().slice(0, 8)}`;
}

function targetOf(input: CreateAttachmentInput["target"]): { targetKind: "netns" | "pid" | "sandbox"; target: string; defaultId: string } {
  switch (input.kind) {
    case "netns":
      return { targetKind: "netns", target: input.name, defaultId: input.name };
    case "pid":
      return { targetKind: "pid", target: String(input.pid), defaultId: `pid-${input.pid}` };
    case "sandbox": {
      const name = input.name ?? sandboxName();
      return { targetKind: "sandbox", target: name, defaultId: name };
    }
  }
}

async function enqueue(tx: DbTx, ctx: Ctx, a: { id: string; hostId: string }, kind: OperationKind, generation: number) {
  // Due now by the database's clock: Prisma's default for notBefore would be this replica's clock, and
  // another replica's claim compares it with its own now (issue 15 §4).
  const now = dbNow();
  return tx.operation.create({
    data: { hostId: a.hostId, attachmentId: a.id, kind, generation, requestedById: ctx.session?.user.id ?? null, requestedByName: ctx.session?.user.username ?? "", notBefore: now, createdAt: now },
    select: OPERATION_SELECT,
  });
}

export function published(ctx: Pick<Context, "events">, op: { id: string; attachmentId: string; hostId: string; status: string }) {
  ctx.events.publish("host", { kind: "work", hostId: op.hostId });
  ctx.events.publish("operation", { kind: "status", operationId: op.id, attachmentId: op.attachmentId, hostId: op.hostId, status: op.status });
}

/** A row of `to_jsonb(...)`: timestamps arrive as ISO text without a zone (the columns hold UTC). */
type JsonRow = Record<string, unknown>;

/** The `select`ed fields of a row read as JSON, timestamps as Dates: the shape Prisma would return. */
function fromJsonRow<S extends Record<string, true>>(row: JsonRow, select: S, dates: readonly (keyof S & string)[]): { [K in keyof S]: unknown } {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(select)) out[key] = row[key] ?? null;
  for (const key of dates) if (typeof row[key] === "string") out[key] = new Date(`${row[key] as string}Z`);
  return out as { [K in keyof S]: unknown };
}

type AttachmentRow = Prisma.AttachmentGetPayload<{ select: typeof ATTACHMENT_ROW_SELECT }>;
type OperationRow = Prisma.OperationGetPayload<{ select: typeof OPERATION_SELECT }>;

interface CreateRow {
  hostName: string | null;
  hostRevoked: boolean | null;
  networkName: string | null;
  latestRevision: number | null;
  existingState: string | null;
  attachment: JsonRow | null;
  operation: JsonRow | null;
  interfaceHolder: InterfaceHolder | null;
  portHolder: PortHolder | null;
}

/**
 * Writes the desired attachment, its attach operation and the audit event: one SQL statement, so
 * all or nothing without a transaction's round trips (the embedded database runs one statement at
 * a time, and a burst of creates would otherwise hold back the agent's claims behind it). A new
 * attachment is inserted; a detached one with the same (host, network, container, ifname) becomes
 * its next generation. Anything that stops the write (no host, a revoked one, no network, already
 * attached, the interface name in that namespace or a host port held by another attachment, a
 * concurrent create of the same attachment) leaves every table as it was, and the statement's
 * first part tells which.
 *
 * Concurrency: a held interface is the database's to refuse (a partial unique index), so two
 * creates racing for one (namespace, ifname) cannot both win. Host ports cannot be a unique index
 * (a wildcard host IP conflicts with every address on its port), so a create that maps ports first
 * takes the host's port lock for its transaction: the statement after it sees every mapping
 * committed before.
 */
export async function createAttachment(ctx: Ctx, input: CreateAttachmentInput) {
  const { targetKind, target, defaultId } = targetOf(input.target);
  const containerId = input.containerId ?? defaultId;
  const capabilityArgs = input.portMappings.length > 0 ? { portMappings: input.portMappings } : {};
  const user = ctx.session!.user;
  checkPortMappings(ctx, input.portMappings);
  // Reads only: its answer holds until the write as well as it did inside a read-committed transaction.
  await checkHostIps(ctx.db, input.hostId, input.portMappings);
  const at = dbNow().toISOString();
  const nsKey = namespaceKey(targetKind, target);
  const wanted = JSON.stringify(input.portMappings.map((m) => ({ hostPort: m.hostPort, protocol: m.protocol, hostIP: m.hostIP ?? "" })));
  // One statement, in a function (migration 20261206025000_create_attachment_function) so that its plan is kept.
  const write = (db: Db | DbTx = ctx.db) => db.$queryRaw<CreateRow[]>`
    SELECT * FROM switchyard_create_attachment(${input.hostId}, ${input.networkId}, ${containerId}, ${input.ifName}, ${nsKey}, ${wanted}::jsonb,
      ${targetKind}, ${target}, ${JSON.stringify(capabilityArgs)}::jsonb, ${user.id}, ${user.username}, ${at}, ${ctx.meta.requestId}, ${ctx.meta.sourceIp})`;
  let row: CreateRow | undefined;
  const lockPorts = (db: Db | DbTx) => db.$queryRaw`SELECT 1 AS locked FROM (SELECT pg_advisory_xact_lock(hashtext('switchyard.host-ports'), hashtext(${input.hostId}::text))) AS l`;
  try {
    if (await hasBlockPolicy(ctx.db, input.networkId)) {
      // Per-host blocks: the host's block is given in the create's transaction (ipamBlocks.ts).
      row = await ctx.db.$transaction(async (tx) => {
        if (input.portMappings.length > 0) await lockPorts(tx);
        const [created] = await write(tx);
        if (created?.attachment) await ensureHostBlock(tx, input.networkId, input.hostId);
        return created;
      });
    } else if (input.portMappings.length === 0) {
      [row] = await write();
    } else {
      const [, rows] = await ctx.db.$transaction([lockPorts(ctx.db), write()]);
      [row] = rows;
    }
  } catch (err) {
    // A concurrent create won the interface between this statement's read and its write.
    if (!isViolationOf(err, INTERFACE_HELD_INDEX)) throw err;
    const holder = await findInterfaceHolder(ctx.db, input.hostId, nsKey, input.ifName);
    throw interfaceHeld(holder, { target, ifName: input.ifName });
  }
  if (!row?.hostName) throw new ApiError("NOT_FOUND", `No host with id ${input.hostId}`);
  if (row.hostRevoked) throw new ApiError("CONFLICT", `Host ${row.hostName} is revoked: enrol it again before attaching to it`);
  if (!row.networkName || row.latestRevision === null) throw new ApiError("NOT_FOUND", `No network with id ${input.networkId}`);
  if (row.existingState !== null && row.existingState !== "detached") {
    throw new ApiError("CONFLICT", `${containerId}/${input.ifName} is already attached to ${row.networkName} on this host`, [
      { path: ["containerId"], message: "already attached; detach it first", severity: "error" },
    ]);
  }
  if (row.interfaceHolder) throw interfaceHeld(row.interfaceHolder, { target, ifName: input.ifName });
  if (row.portHolder) throw portHeld(row.portHolder, input.portMappings);
  if (!row.attachment || !row.operation) {
    throw new ApiError("CONFLICT", `${containerId}/${input.ifName} is already attached to ${row.networkName} on this host`, [
      { path: ["containerId"], message: "already attached; detach it first", severity: "error" },
    ]);
  }
  if (Object.keys(input.labels).length > 0) {
    // Set while the attachment is pending: no pool takes it before it is ready (the trigger of
    // migration 20261206124500 records that change), so this second write changes no host.
    await ctx.db.attachment.update({ where: { id: (row.attachment as { id: string }).id }, data: { labels: input.labels } });
    (row.attachment as Record<string, unknown>).labels = input.labels;
  }
  const saved = fromJsonRow(row.attachment, ATTACHMENT_ROW_SELECT, ["createdAt", "updatedAt"]) as AttachmentRow;
  const attachment = toAttachmentView({ ...saved, host: { name: row.hostName } });
  const operation = fromJsonRow(row.operation, OPERATION_SELECT, ["notBefore", "createdAt", "startedAt", "finishedAt"]) as OperationRow;
  published(ctx, operation);
  return { attachment, operation };
}

export async function loadForChange(tx: DbTx, id: string) {
  const a = await tx.attachment.findUnique({ where: { id }, select: { ...ATTACHMENT_SELECT, host: { select: { name: true, revokedAt: true } } } });
  if (!a) throw new ApiError("NOT_FOUND", "No attachment with this id");
  return a;
}

/**
 * Desired state becomes detached. Queued attach/check operations are cancelled; when nothing was
 * ever applied (the attach was never claimed) the attachment is detached at once, else a detach
 * operation is queued (the agent DELs even what a failed or interrupted ADD left).
 */
export async function detachAttachment(ctx: Ctx, id: string) {
  const out = await ctx.db.$transaction(async (tx) => {
    const a = await loadForChange(tx, id);
    if (!a.present && a.state !== "failed") throw new ApiError("CONFLICT", "This attachment is already detached or detaching");
    const generation = a.generation + 1;
    const pending = await tx.operation.findMany({ where: { attachmentId: id, status: { in: ["queued", "running"] } }, select: { id: true, kind: true, status: true, attempt: true } });
    const cancellable = pending.filter((p) => p.status === "queued" && p.kind !== "detach");
    if (cancellable.length > 0) {
      await tx.operation.updateMany({ where: { id: { in: cancellable.map((p) => p.id) }, status: "queued" }, data: { status: "cancelled", finishedAt: dbNow(), error: "cancelled by detach" } });
    }
    const neverApplied = a.state === "pending" && pending.every((p) => p.kind === "attach" && p.status === "queued" && p.attempt === 0);
    let op = null;
    if (neverApplied) {
      await tx.attachment.update({ where: { id }, data: { present: false, generation, state: "detached" } });
    } else {
      await tx.attachment.update({ where: { id }, data: { present: false, generation, state: "detaching" } });
      op = await enqueue(tx, ctx, a, "detach", generation);
    }
    await writeAudit(tx, ctx, { action: "attachments.detach", targetType: "attachment", targetId: id, before: { state: a.state }, after: { present: false, immediate: neverApplied }, outcome: "success" });
    return { op, cancelled: cancellable, a };
  });
  for (const c of out.cancelled) ctx.events.publish("operation", { kind: "status", operationId: c.id, attachmentId: id, hostId: out.a.hostId, status: "cancelled" });
  if (out.op) published(ctx, out.op);
  return { operation: out.op };
}

/** Queues a CHECK of a ready attachment. */
export async function checkAttachment(ctx: Ctx, id: string) {
  const op = await ctx.db.$transaction(async (tx) => {
    const a = await loadForChange(tx, id);
    if (!a.present || a.state !== "ready") throw new ApiError("CONFLICT", `Only a ready attachment can be checked (this one is ${a.state})`);
    const created = await enqueue(tx, ctx, a, "check", a.generation);
    await writeAudit(tx, ctx, { action: "attachments.check", targetType: "attachment", targetId: id, outcome: "success" });
    return created;
  });
  published(ctx, op);
  return { operation: op };
}

/** A failed attachment gets a new operation towards its desired state. */
export async function retryAttachment(ctx: Ctx, id: string) {
  const op = await ctx.db.$transaction(async (tx) => {
    const a = await loadForChange(tx, id);
    if (a.state !== "failed") throw new ApiError("CONFLICT", `Only a failed attachment can be retried (this one is ${a.state})`);
    const busy = await tx.operation.count({ where: { attachmentId: id, status: { in: ["queued", "running"] } } });
    if (busy > 0) throw new ApiError("CONFLICT", "An operation on this attachment is still queued or running");
    const generation = a.generation + 1;
    await tx.attachment.update({ where: { id }, data: { generation, state: a.present ? "applying" : "detaching", lastError: "" } });
    const created = await enqueue(tx, ctx, a, a.present ? "attach" : "detach", generation);
    await writeAudit(tx, ctx, { action: "attachments.retry", targetType: "attachment", targetId: id, after: { kind: created.kind }, outcome: "success" });
    return created;
  });
  published(ctx, op);
  return { operation: op };
}

/** Cancels a queued attach or check. A cancelled first attach leaves the attachment detached. */
export async function cancelOperation(ctx: Ctx, operationId: string) {
  const out = await ctx.db.$transaction(async (tx) => {
    const op = await tx.operation.findUnique({ where: { id: operationId }, select: { ...OPERATION_SELECT, attachment: { select: { state: true, generation: true } } } });
    if (!op) throw new ApiError("NOT_FOUND", "No operation with this id");
    if (op.kind === "detach") throw new ApiError("CONFLICT", "A detach cannot be cancelled: it cleans up what an attach may have left");
    const { count } = await tx.operation.updateMany({ where: { id: operationId, status: "queued" }, data: { status: "cancelled", finishedAt: dbNow(), error: `cancelled by ${ctx.session!.user.username}` } });
    if (count === 0) throw new ApiError("CONFLICT", `Only a queued operation can be cancelled (this one is ${op.status})`);
    let detachOp = null;
    if (op.kind === "attach" && op.generation === op.attachment.generation) {
      const generation = op.generation + 1;
      if (op.attempt === 0) {
        await tx.attachment.update({ where: { id: op.attachmentId }, data: { present: false, generation, state: "detached" } });
      } else {
        // An earlier attempt ran: undo whatever it left.
        await tx.attachment.update({ where: { id: op.attachmentId }, data: { present: false, generation, state: "detaching" } });
        detachOp = await enqueue(tx, ctx, { id: op.attachmentId, hostId: op.hostId }, "detach", generation);
      }
    }
    await writeAudit(tx, ctx, { action: "operations.cancel", targetType: "operation", targetId: operationId, outcome: "success" });
    return { op, detachOp };
  });
  ctx.events.publish("operation", { kind: "status", operationId, attachmentId: out.op.attachmentId, hostId: out.op.hostId, status: "cancelled" });
  if (out.detachOp) published(ctx, out.detachOp);
}

export async function getAttachment(db: Db, id: string) {
  const a = await db.attachment.findUnique({ where: { id }, select: ATTACHMENT_SELECT });
  if (!a) throw new ApiError("NOT_FOUND", "No attachment with this id");
  const operations = await db.operation.findMany({ where: { attachmentId: id }, orderBy: { seq: "desc" }, take: 50, select: OPERATION_SELECT });
  return { ...toAttachmentView(a), operations };
}

export async function getOperation(db: Db, id: string) {
  const op = await db.operation.findUnique({ where: { id }, select: { ...OPERATION_SELECT, host: { select: { name: true } }, attachment: { select: { containerId: true, ifName: true, networkId: true, networkName: true, networkRevision: true, state: true, present: true, lastError: true, network: { select: { latestRevision: true } } } } } });
  if (!op) throw new ApiError("NOT_FOUND", "No operation with this id");
  const logs = await db.operationLog.findMany({ where: { operationId: id }, orderBy: { id: "asc" }, take: 5000, select: { id: true, attempt: true, at: true, stream: true, line: true } });
  return { ...op, logs };
}
