import fs from "node:fs";
import { PGlite, type PGliteOptions } from "@electric-sql/pglite";
import { pg_trgm } from "@electric-sql/pglite/contrib/pg_trgm";
import type { DbTarget } from "./url";

/**
 * The extensions every PGlite here is opened with. pg_trgm: the lists' substring search uses
 * trigram indexes (a migration creates the extension), and a data directory holding such an
 * index can be read only by a PGlite that has the extension loaded.
 */
export const PGLITE_EXTENSIONS = { pg_trgm } as const;

/** A new PGlite (a directory, or in memory) with the project's extensions. */
export function newPglite(dir?: string, options: Omit<PGliteOptions, "extensions"> = {}): PGlite {
  // Not `new PGlite(undefined, options)`: without a directory PGlite ignores its second argument.
  const all = { ...options, extensions: PGLITE_EXTENSIONS };
  return dir === undefined ? new PGlite(all) : new PGlite(dir, all);
}

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
    const pglite = newPglite();
    return { pglite, release: once(() => closeQuietly(pglite)) };
  }
  let entry = registry.get(key);
  if (!entry) {
    if (target.kind === "pglite") fs.mkdirSync(target.dir, { recursive: true });
    entry = { pglite: target.kind === "pglite" ? newPglite(target.dir) : newPglite(), refs: 0 };
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
