import { z } from "zod";
import { desiredServicesFor } from "../domain/serviceDesired";
import { getProbe, listProbes, startProbe } from "../domain/serviceProbes";
import { StartProbeInput } from "../schemas/serviceProbe";
import { getService, getServiceRevision, listServices } from "../domain/serviceRead";
import { planServiceChange } from "../domain/servicePlan";
import { requireDirectChange } from "../domain/proposals";
import { createService, deleteService, rollbackService, setLabels, setServiceCidrs, updateService } from "../domain/services";
import { Id } from "../schemas";
import { CreateServiceInput, DeleteServiceInput, Labels, PlanServiceInput, RollbackServiceInput, SetServiceCidrsInput, UpdateServiceInput } from "../schemas/services";
import { deregisterMember, listRegistrations, registerMember } from "../domain/serviceRegistrations";
import { DeregisterMemberInput, RegisterMemberInput } from "../schemas/services";
import { adminProcedure, operatorProcedure, registrarProcedure, registrarReadProcedure, router, viewerProcedure } from "../trpc";

/** Services and endpoint pools (issue 12): viewers look, operators edit, admins set the service CIDRs; every change audited. */
/** What each call touches, for API tokens limited to some services (auth/tokenLimits.ts). */
const BY_ID = { touches: { service: "id" } } as const;

export const servicesRouter = router({
  list: viewerProcedure.meta({ touches: { list: true } }).query(({ ctx }) => listServices(ctx.db, ctx.within)),
  get: viewerProcedure.meta(BY_ID).input(z.object({ id: Id })).query(({ ctx, input }) => getService(ctx.db, input.id)),
  revision: viewerProcedure.meta(BY_ID).input(z.object({ id: Id, number: z.number().int().positive() })).query(({ ctx, input }) => getServiceRevision(ctx.db, input.id, input.number)),
  cidrs: viewerProcedure.query(async ({ ctx }) => (await ctx.db.serviceCidr.findMany({ orderBy: { cidr: "asc" } })).map((c) => c.cidr)),
  /** What one host would program now (the agent fetches the same through agent.servicesDesired). */
  desiredFor: viewerProcedure
    .input(z.object({ hostId: Id, family: z.union([z.literal(4), z.literal(6)]).default(4) }))
    .query(({ ctx, input }) => desiredServicesFor(ctx.db, input.hostId, input.family)),
  /** What an update or rollback would program on each host, grouped by identical nft transaction; writes nothing. */
  plan: viewerProcedure.meta(BY_ID).input(PlanServiceInput).query(({ ctx, input }) => planServiceChange(ctx.db, input)),
  create: operatorProcedure.input(CreateServiceInput).mutation(({ ctx, input }) => createService(ctx, input)),
  update: operatorProcedure.meta(BY_ID).input(UpdateServiceInput).mutation(async ({ ctx, input }) => (await requireDirectChange(ctx.db, "service", input.id), updateService(ctx, input))),
  rollback: operatorProcedure.meta(BY_ID).input(RollbackServiceInput).mutation(async ({ ctx, input }) => (await requireDirectChange(ctx.db, "service", input.id), rollbackService(ctx, input))),
  delete: operatorProcedure.meta(BY_ID).input(DeleteServiceInput).mutation(async ({ ctx, input }) => (await requireDirectChange(ctx.db, "service", input.id), deleteService(ctx, input))),
  setCidrs: adminProcedure.input(SetServiceCidrsInput).mutation(({ ctx, input }) => setServiceCidrs(ctx, input)),
  /** A probe: connections to the VIP from a host carrying the service, sent by its agent (issue 12). */
  startProbe: operatorProcedure.meta({ touches: { service: "serviceId" } }).input(StartProbeInput).mutation(({ ctx, input }) => startProbe(ctx, input)),
  probe: viewerProcedure.meta({ touches: { probe: "id" } }).input(z.object({ id: Id })).query(({ ctx, input }) => getProbe(ctx.db, input.id)),
  probes: viewerProcedure.meta({ touches: { service: "serviceId" } }).input(z.object({ serviceId: Id, limit: z.number().int().min(1).max(50).default(10) })).query(({ ctx, input }) => listProbes(ctx.db, input.serviceId, input.limit)),
  setHostLabels: operatorProcedure.input(z.object({ hostId: Id, labels: Labels })).mutation(({ ctx, input }) => setLabels(ctx, { kind: "host", id: input.hostId, labels: input.labels })),
  setAttachmentLabels: operatorProcedure
    .meta({ touches: { attachment: "attachmentId" } })
    .input(z.object({ attachmentId: Id, labels: Labels }))
    .mutation(({ ctx, input }) => setLabels(ctx, { kind: "attachment", id: input.attachmentId, labels: input.labels })),
  /** Registration through the API (§6): a registrar token or an operator; a token only into its services. */
  register: registrarProcedure.input(RegisterMemberInput).mutation(({ ctx, input }) => registerMember(ctx, input)),
  deregister: registrarProcedure.input(DeregisterMemberInput).mutation(({ ctx, input }) => deregisterMember(ctx, input)),
  registrations: registrarReadProcedure.input(z.object({ service: z.string().min(1).max(63) })).query(({ ctx, input }) => listRegistrations(ctx, input)),
});
