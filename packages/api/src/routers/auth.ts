import { TRPCError } from "@trpc/server";
import { z } from "zod";
import { verifyPassword } from "../auth/password";
import { readPasswordHash, signIn, signOut } from "../domain/auth";
import { setUserPassword } from "../domain/users";
import { Password, SignInInput } from "../schemas";
import { protectedProcedure, publicProcedure, router } from "../trpc";

export const authRouter = router({
  me: publicProcedure.query(({ ctx }) => (ctx.session ? { ...ctx.session.user, expiresAt: ctx.session.expiresAt } : null)),
  signIn: publicProcedure.input(SignInInput).mutation(({ ctx, input }) => signIn(ctx, input)),
  signOut: protectedProcedure.mutation(({ ctx }) => signOut(ctx)),
  changePassword: protectedProcedure
    .input(z.object({ currentPassword: z.string().min(1).max(256), newPassword: Password }))
    .mutation(async ({ ctx, input }) => {
      if (!(await verifyPassword(input.currentPassword, await readPasswordHash(ctx.db, ctx.session.user.id)))) {
        throw new TRPCError({ code: "BAD_REQUEST", message: "The current password is wrong" });
      }
      await setUserPassword(ctx, { id: ctx.session.user.id, password: input.newPassword, action: "auth.changePassword" });
    }),
});
