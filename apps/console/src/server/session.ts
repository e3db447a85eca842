import { SESSION_COOKIE, validateSessionToken, type SessionUser } from "@switchyard/api";
import { cookies } from "next/headers";
import { redirect } from "next/navigation";
import { getDeps } from "./deps";

/** For page rendering only; every procedure authorizes on its own. */
export async function currentUser(): Promise<SessionUser | null> {
  const token = (await cookies()).get(SESSION_COOKIE)?.value;
  if (!token) return null;
  const deps = await getDeps();
  return (await validateSessionToken(deps.db, token, deps.sessionPolicy))?.user ?? null;
}

export async function requireUser(): Promise<SessionUser> {
  const user = await currentUser();
  if (!user) redirect("/login");
  return user;
}
