import type { ReactNode } from "react";
import { LiveUpdates } from "~/components/live-updates";
import { SideNav } from "~/components/side-nav";
import { UserProvider } from "~/components/user-context";
import { requireUser } from "~/server/session";

export const dynamic = "force-dynamic";

export default async function ConsoleLayout({ children }: { children: ReactNode }) {
  const user = await requireUser();
  return (
    <UserProvider user={user}>
      <LiveUpdates />
      <div className="shell">
        <aside className="side">
          <div className="brand">Switchyard</div>
          <SideNav />
        </aside>
        <main>{children}</main>
      </div>
    </UserProvider>
  );
}
