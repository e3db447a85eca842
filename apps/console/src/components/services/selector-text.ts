/**
 * The label selector as operators type it, `app=web,tier=front` (matchLabels pairs, Kubernetes'
 * equality form), and back. Expressions (In, NotIn, Exists) come through the API; the page shows
 * them in the same form, read-only.
 */
export type SelectorValue = {
  matchLabels?: Record<string, string>;
  matchExpressions?: ({ key: string; operator: "In" | "NotIn"; values: string[] } | { key: string; operator: "Exists" | "DoesNotExist" })[];
};

/** `{ matchLabels }` from `a=b,c=d`; null for an empty text; an error naming the piece that is not `key=value`. */
export function parseSelectorText(text: string): { ok: true; value: SelectorValue | null } | { ok: false; error: string } {
  const pieces = text.split(",").map((p) => p.trim()).filter(Boolean);
  if (pieces.length === 0) return { ok: true, value: null };
  const matchLabels: Record<string, string> = {};
  for (const piece of pieces) {
    const eq = piece.indexOf("=");
    if (eq <= 0) return { ok: false, error: `"${piece}" is not key=value` };
    const key = piece.slice(0, eq).trim();
    const value = piece.slice(eq + 1).trim();
    if (Object.hasOwn(matchLabels, key)) return { ok: false, error: `"${key}" is given twice` };
    matchLabels[key] = value;
  }
  return { ok: true, value: { matchLabels } };
}

export function formatSelector(selector: SelectorValue | null): string {
  if (!selector) return "";
  const parts = Object.entries(selector.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of selector.matchExpressions ?? []) {
    if (e.operator === "In" || e.operator === "NotIn") parts.push(`${e.key} ${e.operator === "In" ? "in" : "notin"} (${e.values.join(",")})`);
    else parts.push(e.operator === "Exists" ? e.key : `!${e.key}`);
  }
  return parts.join(",");
}

/** Labels as `a=b,c=d`, and parsed back (the same text form as a selector's pairs). */
export const formatLabels = (labels: Record<string, string>) => Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(",");
export function parseLabelsText(text: string): { ok: true; value: Record<string, string> } | { ok: false; error: string } {
  const parsed = parseSelectorText(text);
  if (!parsed.ok) return parsed;
  return { ok: true, value: parsed.value?.matchLabels ?? {} };
}
