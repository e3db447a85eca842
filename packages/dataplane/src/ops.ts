import { type SetObject, TABLE_COMMENT, familyWord } from "./lower";
import { TABLE_NAME } from "./names";

/**
 * A transaction as a list of operations: what `nft -f` reads as text (`opsText`) and what the
 * netlink encoder sends as messages (netlink/encode.ts). Both come from the same list, so the two
 * paths cannot drift apart.
 */
export type Op =
  | { kind: "table"; verb: "add"; comment: boolean }
  | { kind: "table"; verb: "delete" }
  | { kind: "set"; verb: "add" | "delete"; name: string; set: SetObject }
  | { kind: "chain"; verb: "add"; name: string; spec: string | null }
  | { kind: "chain"; verb: "flush" | "delete"; name: string }
  | { kind: "rule"; chain: string; rule: string }
  /** Whole element texts to add; keys only to delete. */
  | { kind: "elements"; verb: "add" | "delete"; set: string; items: string[] };

/** The `nft -f` text of `ops` ("" for none). */
export function opsText(family: 4 | 6, ops: readonly Op[]): string {
  if (ops.length === 0) return "";
  const t = `${familyWord(family)} ${TABLE_NAME}`;
  const lines = ops.map((op) => {
    switch (op.kind) {
      case "table":
        return op.verb === "delete" ? `delete table ${t}` : op.comment ? `add table ${t} { comment "${TABLE_COMMENT}" ; }` : `add table ${t}`;
      case "set":
        return op.verb === "add" ? `add ${op.set.kind} ${t} ${op.name} { ${op.set.spec} }` : `delete ${op.set.kind} ${t} ${op.name}`;
      case "chain":
        return op.verb === "add" && op.spec !== null ? `add chain ${t} ${op.name} ${op.spec}` : `${op.verb} chain ${t} ${op.name}`;
      case "rule":
        return `add rule ${t} ${op.chain} ${op.rule}`;
      case "elements":
        return `${op.verb} element ${t} ${op.set} { ${op.items.join(", ")} }`;
    }
  });
  return `${lines.join("\n")}\n`;
}
