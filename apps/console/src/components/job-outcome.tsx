"use client";

import { useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { useTRPC } from "~/trpc/react";
import { StateBadge } from "./state-badge";

const FINISHED = new Set(["succeeded", "failed", "cancelled"]);

/**
 * A queued job's outcome as it happens: its status badge, then its error when it fails. It follows
 * the job through the operation query, which status events invalidate; a slow poll backs that up.
 */
export function JobOutcome({ operationId }: { operationId: string }) {
  const trpc = useTRPC();
  const op = useQuery({
    ...trpc.attachments.operation.queryOptions({ id: operationId }),
    refetchInterval: (q) => (q.state.data && FINISHED.has(q.state.data.status) ? false : 3_000),
  });
  const status = op.data?.status;
  return (
    <span data-testid="job-outcome">
      {status && <StateBadge state={status} testId="job-outcome-status" />}
      {status === "failed" && op.data?.error && <span>{op.data.error.length > 200 ? `${op.data.error.slice(0, 200)}…` : op.data.error} </span>}
      <Link href={`/operations/${operationId}`}>View job</Link>
    </span>
  );
}
