import { applyFiles, exportFiles, planFiles } from "../domain/teamFiles";
import { ApplyFilesInput, FilesInput } from "../schemas/files";
import { operatorProcedure, router, viewerProcedure } from "../trpc";

/**
 * Networks and services as files, for teams that keep them in git (the CLI's apply, diff and
 * export). None says what it touches for a limited token: they span every network and service,
 * so such a token is refused them.
 */
export const filesRouter = router({
  /** What applying the files would do, with a diff per object; nothing is written. */
  plan: viewerProcedure.input(FilesInput).query(({ ctx, input }) => planFiles(ctx.db, input)),
  /**
   * Applies the plan named by its digest, or nothing (invalid files, or a console that moved on).
   * Not `apply`: tRPC reserves the name (a router is a callable proxy).
   */
  applyPlan: operatorProcedure.input(ApplyFilesInput).mutation(({ ctx, input }) => applyFiles(ctx, input)),
  /** Every network (as /etc/cni/net.d names it) and service (services/<name>.json) as files. */
  export: viewerProcedure.query(({ ctx }) => exportFiles(ctx.db)),
});
