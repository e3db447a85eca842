import { z } from "zod";
import { createJoinToken, deleteJoinToken, getHost, listHostPorts, listJoinTokens, requestReconcile, revokeHost } from "../domain/hosts";
import { diagnoseHostById } from "../domain/doctor";
import { listHosts } from "../domain/hostList";
import { HostListInput } from "../listSchemas";
import { CreateJoinTokenInput, Id } from "../schemas";
import { adminProcedure, operatorProcedure, router, viewerProcedure } from "../trpc";
import { deploymentsOnHost } from "../domain/networkDeployments";
import { observedOnHost } from "../domain/observedAttachments";

export const hostsRouter = router({
  list: viewerProcedure.input(HostListInput).query(({ ctx, input }) => listHosts(ctx.db, input)),
  get: viewerProcedure.input(z.object({ id: Id })).query(({ ctx, input }) => getHost(ctx.db, input.id)),
  /** The doctor's checks of the host, computed on the server from one read of what it needs. */
  diagnose: viewerProcedure.input(z.object({ id: Id })).query(({ ctx, input }) => diagnoseHostById(ctx.db, input.id)),
  /** Containers other runtimes attached on the host (read-only), foreign networks included. */
  observed: viewerProcedure.input(z.object({ id: Id })).query(({ ctx, input }) => observedOnHost(ctx.db, input.id)),
  /** The networks placed on the host, the revision each should hold, and its file as the agent reported it (issue 16 §1). */
  deployments: viewerProcedure.input(z.object({ id: Id })).query(({ ctx, input }) => deploymentsOnHost(ctx.db, input.id)),
  /** The host ports attachments on the host map. */
  ports: viewerProcedure.input(z.object({ id: Id })).query(({ ctx, input }) => listHostPorts(ctx.db, input.id)),
  joinTokens: adminProcedure.query(({ ctx }) => listJoinTokens(ctx.db)),
  createJoinToken: adminProcedure.input(CreateJoinTokenInput).mutation(({ ctx, input }) => createJoinToken(ctx, input)),
  deleteJoinToken: adminProcedure.input(z.object({ id: Id })).mutation(({ ctx, input }) => deleteJoinToken(ctx, input.id)),
  revoke: adminProcedure.input(z.object({ id: Id })).mutation(({ ctx, input }) => revokeHost(ctx, input.id)),
  reconcile: operatorProcedure.input(z.object({ id: Id })).mutation(({ ctx, input }) => requestReconcile(ctx, input.id)),
});
