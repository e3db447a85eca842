"use client";

import { DiffLines } from "./diff-lines";

/** A line diff of two revisions' texts, as their authors wrote them. */
export function RevisionDiff({ from, to, fromLabel, toLabel }: { from: string; to: string; fromLabel: string; toLabel: string }) {
  const changed = from !== to;
  return (
    <div>
      <p className="muted">
        Changes from <strong>{fromLabel}</strong> to <strong>{toLabel}</strong>
        {changed ? "" : ": identical"}
      </p>
      <DiffLines from={from} to={to} label="Revision diff" />
    </div>
  );
}
