"use client";

import { DiffLines } from "./diff-lines";

/** Stable text of a JSON value: keys sorted, so a diff shows changed values, not moved keys. */
function canonical(value: unknown): string {
  if (value === undefined || value === null) return "";
  const sort = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(sort) : v && typeof v === "object" ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sort((v as Record<string, unknown>)[k])])) : v;
  return `${JSON.stringify(sort(value), null, 2)}\n`;
}

/** An audit event's before and after as one line diff. */
export function AuditDiff({ before, after }: { before: unknown; after: unknown }) {
  return <DiffLines from={canonical(before)} to={canonical(after)} label="Before and after" className="dt-audit-diff" />;
}
