import { createApiToken, listApiTokens, revokeApiToken } from "../auth/apiTokens";
import { CreateApiTokenRequest, RevokeApiTokenInput } from "../schemas/apiTokens";
import { router, viewerProcedure } from "../trpc";

/**
 * API tokens, made by people for their automation (never by a token). The role a token's scope
 * needs is checked in the domain (a registrar token needs an operator); each user sees and revokes
 * their own, admins everyone's.
 */
export const tokensRouter = router({
  list: viewerProcedure.query(({ ctx }) => listApiTokens(ctx)),
  create: viewerProcedure.input(CreateApiTokenRequest).mutation(({ ctx, input }) => createApiToken(ctx, input)),
  revoke: viewerProcedure.input(RevokeApiTokenInput).mutation(({ ctx, input }) => revokeApiToken(ctx, input)),
});
