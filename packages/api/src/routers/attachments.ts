import { z } from "zod";
import { cancelOperation, checkAttachment, createAttachment, detachAttachment, getAttachment, getOperation, retryAttachment } from "../domain/attachments";
import { listAttachments } from "../domain/attachmentList";
import { detachWithCurrentRevision } from "../domain/attachmentRecovery";
import { purgeDetachedAttachments } from "../domain/attachmentPurge";
import { listOperationLogs, OperationLogsInput } from "../domain/operationLogs";
import { AttachmentListInput, PurgeAttachmentsInput } from "../listSchemas";
import { CreateAttachmentInput, Id } from "../schemas";
import { operatorProcedure, router, viewerProcedure } from "../trpc";

/** What each call touches, for API tokens limited to some networks (auth/tokenLimits.ts). */
const BY_ID = { touches: { attachment: "id" } } as const;
const OPERATION = { touches: { operation: "id" } } as const;

export const attachmentsRouter = router({
  list: viewerProcedure.meta({ touches: { list: true } }).input(AttachmentListInput).query(({ ctx, input }) => listAttachments(ctx.db, input, ctx.within)),
  /** Deletes detached attachments (the given ones, or a batch of all), with their job history. */
  purge: operatorProcedure.input(PurgeAttachmentsInput).mutation(({ ctx, input }) => purgeDetachedAttachments(ctx, { ids: input.ids })),
  get: viewerProcedure.meta(BY_ID).input(z.object({ id: Id })).query(({ ctx, input }) => getAttachment(ctx.db, input.id)),
  create: operatorProcedure.meta({ touches: { network: "networkId" } }).input(CreateAttachmentInput).mutation(({ ctx, input }) => createAttachment(ctx, input)),
  detach: operatorProcedure.meta(BY_ID).input(z.object({ id: Id })).mutation(({ ctx, input }) => detachAttachment(ctx, input.id)),
  /** The way out for a stuck attachment: DEL with the network's current revision, not the config the host cached. */
  detachWithCurrentRevision: operatorProcedure.meta(BY_ID).input(z.object({ id: Id })).mutation(({ ctx, input }) => detachWithCurrentRevision(ctx, input.id)),
  check: operatorProcedure.meta(BY_ID).input(z.object({ id: Id })).mutation(({ ctx, input }) => checkAttachment(ctx, input.id)),
  retry: operatorProcedure.meta(BY_ID).input(z.object({ id: Id })).mutation(({ ctx, input }) => retryAttachment(ctx, input.id)),
  operation: viewerProcedure.meta(OPERATION).input(z.object({ id: Id })).query(({ ctx, input }) => getOperation(ctx.db, input.id)),
  cancelOperation: operatorProcedure.meta(OPERATION).input(z.object({ id: Id })).mutation(({ ctx, input }) => cancelOperation(ctx, input.id)),
  /** Job lines after `afterId` (the last line id the reader has), oldest first: what a "log" doorbell asks to read. */
  operationLogs: viewerProcedure.meta({ touches: { operation: "operationId" } }).input(OperationLogsInput).query(({ ctx, input }) => listOperationLogs(ctx.db, input)),
});
