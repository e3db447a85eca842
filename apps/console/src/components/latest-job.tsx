"use client";

import { useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useEffect } from "react";
import { errorMessage, useTRPC } from "~/trpc/react";

/** Opens the job view of an attachment's newest operation (the list does not carry operations). */
export function LatestJob({ attachmentId }: { attachmentId: string }) {
  const trpc = useTRPC();
  const router = useRouter();
  const attachment = useQuery(trpc.attachments.get.queryOptions({ id: attachmentId }));
  const latest = attachment.data?.operations[0];
  useEffect(() => {
    if (latest) router.replace(`/operations/${latest.id}`);
  }, [latest, router]);

  if (attachment.error) return <div className="error-box">{errorMessage(attachment.error)}</div>;
  if (attachment.data && !latest) {
    return (
      <div>
        <p><Link href="/attachments">← Attachments</Link></p>
        <p className="muted">This attachment has no jobs.</p>
      </div>
    );
  }
  return <p className="muted">Opening the latest job…</p>;
}
