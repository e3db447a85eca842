import { listAuditEvents } from "../domain/audit";
import { AuditListInput } from "../listSchemas";
import { router, viewerProcedure } from "../trpc";

export const auditRouter = router({
  list: viewerProcedure.input(AuditListInput).query(({ ctx, input }) => listAuditEvents(ctx.db, input)),
});
