import { z } from "zod";
import { applyProposal, createProposal, getProposal, listPolicies, listProposals, reviewProposal, setReviewPolicy, withdrawProposal } from "../domain/proposals";
import { Id } from "../schemas";
import { CreateProposalInput, ProposalListInput, ReviewProposalInput, SetReviewPolicyInput } from "../schemas/proposals";
import { adminProcedure, operatorProcedure, router, viewerProcedure } from "../trpc";

/**
 * Review before apply (issue 13 §4): operators propose, review and apply; viewers read; admins
 * set the policies. None says what it touches for a limited token (a proposal may be of a
 * network or a service), so such a token is refused them.
 */
export const proposalsRouter = router({
  list: viewerProcedure.input(ProposalListInput).query(({ ctx, input }) => listProposals(ctx.db, input)),
  /** With its reviews, its plan computed now (hosts, attachments re-applied, rules), and whether the caller may apply it. */
  get: viewerProcedure.input(z.object({ id: Id })).query(({ ctx, input }) => getProposal(ctx, input.id)),
  create: operatorProcedure.input(CreateProposalInput).mutation(({ ctx, input }) => createProposal(ctx, input)),
  review: operatorProcedure.input(ReviewProposalInput).mutation(({ ctx, input }) => reviewProposal(ctx, input)),
  /** Not `apply`: tRPC reserves the name. */
  applyProposal: operatorProcedure.input(z.object({ id: Id })).mutation(({ ctx, input }) => applyProposal(ctx, input.id)),
  withdraw: operatorProcedure.input(z.object({ id: Id })).mutation(({ ctx, input }) => withdrawProposal(ctx, input.id)),
  policies: viewerProcedure.query(({ ctx }) => listPolicies(ctx.db)),
  setPolicy: adminProcedure.input(SetReviewPolicyInput).mutation(({ ctx, input }) => setReviewPolicy(ctx, input)),
});
