import { createTwoFilesPatch } from "diff";

/** "1 attachment", "3 attachments" (or the plural given). */
export const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/**
 * A unified diff of two texts of one file, three lines of context, the `---`/`+++` lines naming
 * the sides (`from/name`, `to/name`): what files.plan and a proposal's plan show.
 */
export function unifiedDiff(name: string, sides: { from: string; to: string }, before: string, after: string): string {
  // createTwoFilesPatch starts with "Index:" and a "===" rule: dropped, the hunks speak for themselves.
  return createTwoFilesPatch(`${sides.from}/${name}`, `${sides.to}/${name}`, before, after, undefined, undefined, { context: 3 }).split("\n").slice(2).join("\n");
}
