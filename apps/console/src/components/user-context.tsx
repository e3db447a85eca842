"use client";

import type { SessionUser } from "@switchyard/api";
import { createContext, useContext, type ReactNode } from "react";

const UserContext = createContext<SessionUser | null>(null);

export function UserProvider({ user, children }: { user: SessionUser; children: ReactNode }) {
  return <UserContext.Provider value={user}>{children}</UserContext.Provider>;
}

export function useUser(): SessionUser {
  const user = useContext(UserContext);
  if (!user) throw new Error("useUser outside UserProvider");
  return user;
}

/** Hides controls the server would refuse anyway; authorization itself is server-side. */
export function useCan() {
  const { role } = useUser();
  const isOperator = role === "operator" || role === "admin";
  return { editNetworks: isOperator, editAttachments: isOperator, manageUsers: role === "admin", manageHosts: role === "admin" };
}
