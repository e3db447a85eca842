import { z } from "zod";
import { createUser, listUsers, setUserPassword, updateUser } from "../domain/users";
import { CreateUserInput, Id, Password, Role } from "../schemas";
import { adminProcedure, router } from "../trpc";

export const usersRouter = router({
  list: adminProcedure.query(({ ctx }) => listUsers(ctx.db)),
  create: adminProcedure.input(CreateUserInput).mutation(({ ctx, input }) => createUser(ctx, input)),
  setRole: adminProcedure.input(z.object({ id: Id, role: Role })).mutation(({ ctx, input }) => updateUser(ctx, input)),
  setDisabled: adminProcedure
    .input(z.object({ id: Id, disabled: z.boolean() }))
    .mutation(({ ctx, input }) => updateUser(ctx, input)),
  resetPassword: adminProcedure
    .input(z.object({ id: Id, password: Password }))
    .mutation(({ ctx, input }) => setUserPassword(ctx, { ...input, action: "users.resetPassword" })),
});
