import type { Db } from "@switchyard/db";
import { z } from "zod";
import { Id } from "../schemas";

/** Most lines one read returns; a reader that got this many asks again from the last id. */
export const OPERATION_LOGS_PAGE = 1000;

export const OperationLogsInput = z.object({
  operationId: Id,
  /** The last line id the reader has; 0 reads from the start. */
  afterId: z.number().int().min(0).default(0),
});
export type OperationLogsInput = z.input<typeof OperationLogsInput>;

/**
 * Job lines of an operation after `afterId`, oldest first. The event bus only rings ("log") and
 * each reader catches up from its own position, so a missed doorbell loses nothing.
 */
export async function listOperationLogs(db: Db, input: z.output<typeof OperationLogsInput>) {
  const lines = await db.operationLog.findMany({
    where: { operationId: input.operationId, id: { gt: input.afterId } },
    orderBy: { id: "asc" },
    take: OPERATION_LOGS_PAGE,
    select: { id: true, attempt: true, at: true, stream: true, line: true },
  });
  return { lines, more: lines.length === OPERATION_LOGS_PAGE };
}
