"use client";

import { diffLines } from "diff";

/** A line diff of two texts (jsdiff): removed lines red, added green, the rest as context. */
export function DiffLines({ from, to, label, className = "" }: { from: string; to: string; label: string; className?: string }) {
  return (
    <pre className={`diff mono ${className}`.trim()} aria-label={label}>
      {diffLines(from, to).flatMap((part, i) =>
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
  );
}
