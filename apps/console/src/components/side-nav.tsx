"use client";

import Link from "next/link";
import { usePathname } from "next/navigation";
import { SignOutButton } from "./sign-out";
import { useUser } from "./user-context";

const LINKS: { href: string; label: string; adminOnly?: boolean; operatorOnly?: boolean }[] = [
  { href: "/networks", label: "Networks" },
  { href: "/hosts", label: "Hosts" },
  { href: "/attachments", label: "Attachments" },
  { href: "/services", label: "Services" },
  { href: "/proposals", label: "Proposals" },
  { href: "/audit", label: "Audit log" },
  { href: "/webhooks", label: "Webhooks", operatorOnly: true },
  { href: "/users", label: "Users", adminOnly: true },
  { href: "/account", label: "Account" },
  { href: "/docs/api", label: "REST API" },
];

/** A link is the current page for its own path and everything under it (a host's page is under Hosts). */
function isCurrent(pathname: string, href: string): boolean {
  return pathname === href || pathname.startsWith(`${href}/`) || (href === "/attachments" && pathname.startsWith("/operations/"));
}

/** The sidebar: the current page marked (aria-current), the user's role as it is now. */
export function SideNav() {
  const pathname = usePathname() ?? "";
  const user = useUser();
  return (
    <>
      <nav aria-label="Main">
        {LINKS.filter((l) => (!l.adminOnly || user.role === "admin") && (!l.operatorOnly || user.role !== "viewer")).map((l) => (
          <Link key={l.href} href={l.href} aria-current={isCurrent(pathname, l.href) ? "page" : undefined}>
            {l.label}
          </Link>
        ))}
      </nav>
      <div className="who" data-testid="signed-in-as">
        Signed in as <strong>{user.username}</strong> ({user.role})
        <div style={{ marginTop: 8 }}>
          <SignOutButton />
        </div>
      </div>
    </>
  );
}
