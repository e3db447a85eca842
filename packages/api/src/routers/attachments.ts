import { z } from "zod";
import { cancelOperation, checkAttachment, createAttachment, detachAttachment, getAttachment, getOperation, retryAttachment } from "../domain/attachments";
import type { OperationEvent } from "../events";
import { listAttachments } from "../domain/attachmentList";
import { purgeDetachedAttachments } from "../domain/attachmentPurge";
import { AttachmentListInput, PurgeAttachmentsInput } from "../listSchemas";
import { CreateAttachmentInput, Id } from "../schemas";
import { operatorProcedure, router, viewerProcedure } from "../trpc";

export const attachmentsRouter = router({
  list: viewerProcedure.input(AttachmentListInput).query(({ ctx, input }) => listAttachments(ctx.db, input)),
  /** Deletes detached attachments (the given ones, or a batch of all), with their job history. */
  purge: operatorProcedure.input(PurgeAttachmentsInput).mutation(({ ctx, input }) => purgeDetachedAttachments(ctx, { ids: input.ids })),
  get: viewerProcedure.input(z.object({ id: Id })).query(({ ctx, input }) => getAttachment(ctx.db, input.id)),
  create: operatorProcedure.input(CreateAttachmentInput).mutation(({ ctx, input }) => createAttachment(ctx, input)),
  detach: operatorProcedure.input(z.object({ id: Id })).mutation(({ ctx, input }) => detachAttachment(ctx, input.id)),
  check: operatorProcedure.input(z.object({ id: Id })).mutation(({ ctx, input }) => checkAttachment(ctx, input.id)),
  retry: operatorProcedure.input(z.object({ id: Id })).mutation(({ ctx, input }) => retryAttachment(ctx, input.id)),
  operation: viewerProcedure.input(z.object({ id: Id })).query(({ ctx, input }) => getOperation(ctx.db, input.id)),
  cancelOperation: operatorProcedure.input(z.object({ id: Id })).mutation(({ ctx, input }) => cancelOperation(ctx, input.id)),
  /** Status changes and job log lines, for the live job view and state badges. */
  onOperation: viewerProcedure
    .input(z.object({ operationId: Id.optional(), hostId: Id.optional() }))
    .subscription(async function* ({ ctx, input, signal }): AsyncGenerator<OperationEvent> {
      for await (const event of ctx.events.subscribe("operation", signal)) {
        if (input.operationId && event.operationId !== input.operationId) continue;
        if (input.hostId && event.hostId !== input.hostId) continue;
        yield event;
      }
    }),
});
