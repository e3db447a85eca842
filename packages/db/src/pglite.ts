import fs from "node:fs";
import { PGlite } from "@electric-sql/pglite";
import type { DbTarget } from "./url";

type Entry = { pglite: PGlite; refs: number };

// One PGlite per directory per process: a data directory can be opened only once, and
// Next dev re-evaluates modules, so the registry lives on globalThis.
const REGISTRY_KEY = Symbol.for("@switchyard/db/pglite-registry");
const registry: Map<string, Entry> = ((globalThis as Record<symbol, unknown>)[REGISTRY_KEY] ??= new Map()) as Map<
  string,
  Entry
>;

export type PgliteLease = { pglite: PGlite; release(): Promise<void> };

function keyOf(target: Exclude<DbTarget, { kind: "postgres" }>): string | null {
  if (target.kind === "pglite") return `dir:${target.dir}`;
  return target.name ? `memory:${target.name}` : null;
}

/** Opens (or shares) the PGlite instance for a target; the last release closes it. */
export function leasePglite(target: Exclude<DbTarget, { kind: "postgres" }>): PgliteLease {
  const key = keyOf(target);
  if (key === null) {
    const pglite = new PGlite();
    return { pglite, release: once(() => closeQuietly(pglite)) };
  }
  let entry = registry.get(key);
  if (!entry) {
    if (target.kind === "pglite") fs.mkdirSync(target.dir, { recursive: true });
    entry = { pglite: target.kind === "pglite" ? new PGlite(target.dir) : new PGlite(), refs: 0 };
    registry.set(key, entry);
  }
  entry.refs++;
  const held = entry;
  return {
    pglite: held.pglite,
    release: once(async () => {
      held.refs--;
      if (held.refs > 0) return;
      if (registry.get(key) === held) registry.delete(key);
      await closeQuietly(held.pglite);
    }),
  };
}

/** Makes an already-open in-memory PGlite reachable as `file::memory:<name>` in this process. */
export function registerMemoryPglite(name: string, pglite: PGlite): void {
  registry.set(`memory:${name}`, { pglite, refs: 0 });
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => (done ??= fn());
}

async function closeQuietly(pglite: PGlite): Promise<void> {
  if (!pglite.closed) await pglite.close();
}
