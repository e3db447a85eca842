import { z } from "zod";
import { ConfigText } from "../schemas";
import { ServiceSpec } from "./services";

/**
 * Review before apply (issue 13 §4): a change to a network or a service proposed instead of
 * applied, reviewed, then applied as planned. Pure zod, shared by the console's forms.
 */

export const ProposalKind = z.enum(["network", "service"]);
export type ProposalKind = z.infer<typeof ProposalKind>;

const Id = z.string().min(1).max(64);
const Title = z.string().trim().min(1, "say what the change is for").max(200);

export const CreateProposalInput = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("network"), targetId: Id, title: Title, text: ConfigText }),
  z.object({ kind: z.literal("service"), targetId: Id, title: Title, spec: ServiceSpec }),
]);
export type CreateProposalInput = z.infer<typeof CreateProposalInput>;

/** What a proposal stores as its change (`Proposal.change`). */
export const ProposalChange = z.union([z.object({ text: z.string() }), z.object({ spec: ServiceSpec })]);

export const ReviewProposalInput = z.object({
  id: Id,
  /** An approval counts toward the policy; a comment does not. */
  approve: z.boolean(),
  body: z.string().trim().max(4000).default(""),
});

export const ProposalListInput = z.object({
  status: z.enum(["open", "applied", "withdrawn"]).optional(),
  kind: ProposalKind.optional(),
  targetId: Id.optional(),
});

/** Approvals 0 removes the policy: changes are applied directly again. */
export const SetReviewPolicyInput = z.object({
  kind: ProposalKind,
  targetId: Id,
  approvals: z.number().int().min(0).max(5),
  whenInUse: z.boolean().default(false),
  authorMayApply: z.boolean().default(true),
});
export type SetReviewPolicyInput = z.infer<typeof SetReviewPolicyInput>;
