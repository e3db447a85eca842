"use client";

import { diffLines } from "diff";

/** A line diff of two serialized conflists (jsdiff). */
export function RevisionDiff({ from, to, fromLabel, toLabel }: { from: string; to: string; fromLabel: string; toLabel: string }) {
  const parts = diffLines(from, to);
  const changed = parts.some((p) => p.added || p.removed);
  return (
    <div>
      <p className="muted">
        Changes from <strong>{fromLabel}</strong> to <strong>{toLabel}</strong>
        {changed ? "" : ": identical"}
      </p>
      <pre className="diff mono" aria-label="Revision diff">
        {parts.flatMap((part, i) =>
          part.value
            .replace(/\n$/, "")
            .split("\n")
            .map((line, j) => (
              <div key={`${i}-${j}`} className={part.added ? "add" : part.removed ? "del" : ""}>
                {part.added ? "+ " : part.removed ? "- " : "  "}
                {line}
              </div>
            )),
        )}
      </pre>
    </div>
  );
}
