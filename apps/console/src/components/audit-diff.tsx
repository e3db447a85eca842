"use client";

import { diffLines } from "diff";

/** Stable text of a JSON value: keys sorted, so a diff shows changed values, not moved keys. */
function canonical(value: unknown): string {
  if (value === undefined || value === null) return "";
  const sort = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(sort) : v && typeof v === "object" ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sort((v as Record<string, unknown>)[k])])) : v;
  return `${JSON.stringify(sort(value), null, 2)}\n`;
}

/** An audit event's before and after as one line diff (removed lines red, added green). */
export function AuditDiff({ before, after }: { before: unknown; after: unknown }) {
  const parts = diffLines(canonical(before), canonical(after));
  return (
    <pre className="diff mono dt-audit-diff" aria-label="Before and after">
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
  );
}
