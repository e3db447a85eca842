import { z } from "zod";
import { applyLatest, attachmentRevision, networkUsage } from "../domain/applyLatest";
import { exportNetworks, importNetworks, previewImport } from "../domain/networkFiles";
import {
  createNetwork,
  deleteNetwork,
  getNetwork,
  getRevision,
  listRevisions,
  rollbackNetwork,
  updateNetwork,
  validateDraft,
} from "../domain/networks";
import { listNetworks } from "../domain/networkList";
import { requireDirectChange } from "../domain/proposals";
import { NetworkListInput } from "../listSchemas";
import {
  ApplyLatestInput,
  CreateNetworkInput,
  DeleteNetworkInput,
  Id,
  ImportNetworksInput,
  RollbackNetworkInput,
  ValidateNetworkInput,
  UpdateNetworkInput,
} from "../schemas";
import { operatorProcedure, router, viewerProcedure } from "../trpc";
import { PlacementInput, clearPlacement, deploymentStatus, placementOf, setPlacement } from "../domain/networkDeployments";
import { StartRolloutInput, planRollout, startRollout, steerRollout } from "../domain/networkRollouts";
import { observedOnNetwork } from "../domain/observedAttachments";

/** What each call touches, for API tokens limited to some networks (auth/tokenLimits.ts). */
const BY_ID = { touches: { network: "id" } } as const;
const LIST = { touches: { list: true } } as const;

export const networksRouter = router({
  list: viewerProcedure.meta(LIST).input(NetworkListInput).query(({ ctx, input }) => listNetworks(ctx.db, input, ctx.within)),
  get: viewerProcedure.meta(BY_ID).input(z.object({ id: Id })).query(({ ctx, input }) => getNetwork(ctx.db, input.id)),
  revisions: viewerProcedure.meta(BY_ID).input(z.object({ id: Id })).query(({ ctx, input }) => listRevisions(ctx.db, input.id)),
  revision: viewerProcedure
    .meta(BY_ID)
    .input(z.object({ id: Id, number: z.number().int().positive() }))
    .query(({ ctx, input }) => getRevision(ctx.db, input.id, input.number)),
  export: viewerProcedure.meta({ touches: { network: "id", optional: true } }).input(z.object({ id: Id.optional() })).query(({ ctx, input }) => exportNetworks(ctx.db, input.id, ctx.within)),
  create: operatorProcedure.input(CreateNetworkInput).mutation(({ ctx, input }) => createNetwork(ctx, input)),
  update: operatorProcedure.meta(BY_ID).input(UpdateNetworkInput).mutation(async ({ ctx, input }) => (await requireDirectChange(ctx.db, "network", input.id), updateNetwork(ctx, input))),
  rollback: operatorProcedure.meta(BY_ID).input(RollbackNetworkInput).mutation(async ({ ctx, input }) => (await requireDirectChange(ctx.db, "network", input.id), rollbackNetwork(ctx, input))),
  delete: operatorProcedure.meta(BY_ID).input(DeleteNetworkInput).mutation(async ({ ctx, input }) => (await requireDirectChange(ctx.db, "network", input.id), deleteNetwork(ctx, input))),
  import: operatorProcedure.input(ImportNetworksInput).mutation(({ ctx, input }) => importNetworks(ctx, input.files)),
  /** Attachments (and hosts) running the network, by revision: what an edit affects. */
  /** Where the network is deployed (hosts' CNI conf dirs, issue 16); null when nowhere. */
  placement: viewerProcedure.meta(BY_ID).input(z.object({ id: Id })).query(({ ctx, input }) => placementOf(ctx.db, input.id)),
  /** Places the network on all hosts, hosts by labels, or hosts picked; their agents write its file. */
  place: operatorProcedure.meta({ touches: { network: "networkId" } }).input(PlacementInput).mutation(({ ctx, input }) => setPlacement(ctx, input)),
  /** Takes the network off every host: the agents remove the files they wrote. */
  unplace: operatorProcedure.meta(BY_ID).input(z.object({ id: Id })).mutation(({ ctx, input }) => clearPlacement(ctx, input.id)),
  /** What rolling the latest revision out to the placed hosts would do, host by host: shown before it starts. */
  rolloutPlan: viewerProcedure.meta(BY_ID).input(z.object({ id: Id })).query(({ ctx, input }) => planRollout(ctx.db, input.id)),
  /** Gives the latest revision to the placed hosts one at a time; the next once the last reported it written. */
  startRollout: operatorProcedure.meta({ touches: { network: "networkId" } }).input(StartRolloutInput).mutation(({ ctx, input }) => startRollout(ctx, input)),
  /** resume: a paused rollout tries its current host again. stop: the hosts it reached go back to the placement's revision. */
  steerRollout: operatorProcedure
    .meta({ touches: { network: "networkId" } })
    .input(z.object({ networkId: Id, action: z.enum(["resume", "stop"]) }))
    .mutation(({ ctx, input }) => steerRollout(ctx, input)),
  /** Containers other runtimes (podman, containerd) attached to this network, on every host: read-only. */
  observed: viewerProcedure.meta(BY_ID).input(z.object({ id: Id })).query(({ ctx, input }) => observedOnNetwork(ctx.db, input.id)),
  /** Per host: placed or not, and the revision its conf dir holds (or its drift, conflict, error). */
  deployments: viewerProcedure.meta(BY_ID).input(z.object({ id: Id })).query(({ ctx, input }) => deploymentStatus(ctx.db, input.id)),
  usage: viewerProcedure.meta(BY_ID).input(z.object({ id: Id })).query(({ ctx, input }) => networkUsage(ctx.db, input.id)),
  /** The revision an attachment runs against the latest, and whether the latest can be applied now. */
  attachmentRevision: viewerProcedure.meta({ touches: { attachment: "attachmentId" } }).input(z.object({ attachmentId: Id })).query(({ ctx, input }) => attachmentRevision(ctx.db, input.attachmentId)),
  /** Queues "apply the latest revision" for the network's attachments on older ones (or the ones named). */
  applyLatest: operatorProcedure.meta({ touches: { network: "networkId" } }).input(ApplyLatestInput).mutation(({ ctx, input }) => applyLatest(ctx, input)),
  /** Errors and warnings (overlaps included) of a draft, while it is edited: nothing is written. */
  validate: viewerProcedure.input(ValidateNetworkInput).query(({ ctx, input }) => validateDraft(ctx.db, input)),
  /** What an import would do, file by file, with errors and overlap warnings: nothing is written. */
  previewImport: viewerProcedure.input(ImportNetworksInput).query(({ ctx, input }) => previewImport(ctx.db, input.files)),
});
