"use client";

import type { SessionUser } from "@switchyard/api";
import { hasRole } from "@switchyard/api/roles";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useRouter } from "next/navigation";
import { createContext, useContext, useEffect, type ReactNode } from "react";
import { useTRPC } from "~/trpc/react";

const UserContext = createContext<SessionUser | null>(null);

/**
 * The signed-in user, from the page render and then from `auth.me`: invalidating that query (after
 * a role change of one's own, say) changes the role the whole console shows at once. A session
 * that ended (disabled, signed out elsewhere) goes to the sign-in page.
 */
export function UserProvider({ user, children }: { user: SessionUser; children: ReactNode }) {
  const trpc = useTRPC();
  const router = useRouter();
  const me = useQuery({ ...trpc.auth.me.queryOptions(), initialData: { ...user, expiresAt: new Date(0) }, initialDataUpdatedAt: 0, staleTime: 60_000 });
  const signedOut = me.isFetched && me.data === null;
  useEffect(() => {
    if (signedOut) router.replace("/login");
  }, [signedOut, router]);
  const current: SessionUser = me.data ? { id: me.data.id, username: me.data.username, displayName: me.data.displayName, role: me.data.role } : user;
  return <UserContext.Provider value={current}>{children}</UserContext.Provider>;
}

export function useUser(): SessionUser {
  const user = useContext(UserContext);
  if (!user) throw new Error("useUser outside UserProvider");
  return user;
}

/** After a change to the signed-in user's own account: re-read who they are, and everything they see. */
export function useRefreshSelf() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const router = useRouter();
  return async () => {
    await queryClient.invalidateQueries({ queryKey: trpc.auth.me.queryKey() });
    await queryClient.invalidateQueries();
    router.refresh();
  };
}

/** Hides controls the server would refuse anyway; authorization itself is server-side. */
export function useCan() {
  const { role } = useUser();
  const isOperator = hasRole(role, "operator");
  return { editNetworks: isOperator, editAttachments: isOperator, editAddresses: isOperator, manageUsers: hasRole(role, "admin"), manageHosts: hasRole(role, "admin") };
}
