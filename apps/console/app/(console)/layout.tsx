import Link from "next/link";
import type { ReactNode } from "react";
import { LiveUpdates } from "~/components/live-updates";
import { SignOutButton } from "~/components/sign-out";
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
          <nav aria-label="Main">
            <Link href="/networks">Networks</Link>
            <Link href="/hosts">Hosts</Link>
            <Link href="/attachments">Attachments</Link>
            <Link href="/audit">Audit log</Link>
            {user.role === "admin" && <Link href="/users">Users</Link>}
            <Link href="/account">Account</Link>
          </nav>
          <div className="who">
            Signed in as <strong>{user.username}</strong> ({user.role})
            <div style={{ marginTop: 8 }}>
              <SignOutButton />
            </div>
          </div>
        </aside>
        <main>{children}</main>
      </div>
    </UserProvider>
  );
}
