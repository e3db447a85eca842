import { z } from "zod";
import {
  createNetwork,
  deleteNetwork,
  exportNetworks,
  getNetwork,
  getRevision,
  importNetworks,
  listNetworks,
  listRevisions,
  rollbackNetwork,
  updateNetwork,
} from "../domain/networks";
import {
  CreateNetworkInput,
  DeleteNetworkInput,
  Id,
  ImportNetworksInput,
  RollbackNetworkInput,
  UpdateNetworkInput,
} from "../schemas";
import { operatorProcedure, router, viewerProcedure } from "../trpc";

export const networksRouter = router({
  list: viewerProcedure.query(({ ctx }) => listNetworks(ctx.db)),
  get: viewerProcedure.input(z.object({ id: Id })).query(({ ctx, input }) => getNetwork(ctx.db, input.id)),
  revisions: viewerProcedure.input(z.object({ id: Id })).query(({ ctx, input }) => listRevisions(ctx.db, input.id)),
  revision: viewerProcedure
    .input(z.object({ id: Id, number: z.number().int().positive() }))
    .query(({ ctx, input }) => getRevision(ctx.db, input.id, input.number)),
  export: viewerProcedure.input(z.object({ id: Id.optional() })).query(({ ctx, input }) => exportNetworks(ctx.db, input.id)),
  create: operatorProcedure.input(CreateNetworkInput).mutation(({ ctx, input }) => createNetwork(ctx, input)),
  update: operatorProcedure.input(UpdateNetworkInput).mutation(({ ctx, input }) => updateNetwork(ctx, input)),
  rollback: operatorProcedure.input(RollbackNetworkInput).mutation(({ ctx, input }) => rollbackNetwork(ctx, input)),
  delete: operatorProcedure.input(DeleteNetworkInput).mutation(({ ctx, input }) => deleteNetwork(ctx, input)),
  import: operatorProcedure.input(ImportNetworksInput).mutation(({ ctx, input }) => importNetworks(ctx, input.files)),
});
