import type { DesiredService, DesiredServices } from "./desired";
import { type Layout, SHARED_SETS, STATIC_CHAINS, STATIC_SETS, type SetObject, type TableObjects, emptyObjects, lowerPorts, lowerProxied, lowerStatic, orderedNames } from "./lower";
import { type Op, opsText } from "./ops";
import { guardAddress } from "./names";
import { DEFAULT_MARK_BIT, type PortIR, type RenderOptions, type TableIR, checkMarkBit, compareText, isProxied, portKey, renderCidrs, renderService } from "./render";

/**
 * The transactions that take a family's table from what the agent believes is loaded to what is
 * desired (design §9). Each is one `nft -f` text: atomic, so a failure changes nothing.
 */

/** One service as last rendered: its input, its ports' IR and its share of the table's objects. */
export interface RenderedService {
  /** The desired service it was rendered from (kept by reference: do not mutate a planned state). */
  input: DesiredService;
  ports: PortIR[];
  objects: TableObjects;
}

export interface Belief {
  family: 4 | 6;
  /** What was last applied; null when the table is absent. */
  table: { layout: Layout; markBit: number; serviceCidrs: string[]; services: Map<string, RenderedService> } | null;
  /** Chains flushed by an earlier sync and not yet deleted (kernels < 6.2 release references lazily). */
  staleChains: string[];
}

export interface SyncPlan {
  family: 4 | 6;
  /** Run now, as one transaction: `ops` through netlink, or their text (`transaction`) with `nft -f -`. */
  ops: Op[];
  /** The text of `ops` (made when first read); "" when nothing changed. */
  readonly transaction: string;
  /**
   * Deletes the chains this sync emptied: run it ≥ 1 s after `transaction` succeeded, then take
   * `planCleanup(belief).belief`. Valid until the next planSync (which may bring a chain back):
   * when in doubt, run `planCleanup(latest belief)` instead. Null when nothing waits.
   */
  deferred: string | null;
  /** The belief once `transaction` has succeeded (keep the old one if it failed, and plan a full rewrite). */
  belief: Belief;
  /** Every set the ops may name (declarations before and after): the netlink encoder's key layouts. */
  sets: Map<string, SetObject>;
}

/**
 * The agent's entry point. `belief` null means "unknown" (start, after a failure, after the
 * periodic check found the table edited): the table is rewritten whole. A service equal to the one
 * the belief was rendered from is not rendered again, so one change costs one service's rendering.
 * `desired` must have been parsed with the DesiredServices schema; the renderer's guard still
 * refuses any unsafe text.
 */
export function planSync(belief: Belief | null, desired: DesiredServices, options: RenderOptions = {}): SyncPlan {
  const family = desired.family;
  if (belief !== null && belief.family !== family) throw new RangeError(`belief is IPv${belief.family} but the desired state is IPv${family}: keep one belief per family`);
  if (desired.services.length === 0) {
    // Nothing to program: no table at all (`add` first makes the delete safe when unsure).
    const ops: Op[] = belief === null ? [{ kind: "table", verb: "add", comment: false }, { kind: "table", verb: "delete" }] : belief.table === null ? [] : [{ kind: "table", verb: "delete" }];
    return syncPlan(family, ops, null, { family, table: null, staleChains: [] });
  }
  const markBit = checkMarkBit(options.markBit ?? DEFAULT_MARK_BIT);
  const serviceCidrs = renderCidrs(desired.serviceCidrs);
  const layout = options.layout ?? "member-chains";
  const sameBase = belief?.table != null && belief.table.markBit === markBit && belief.table.layout === layout;
  const known = sameBase ? belief!.table!.services : new Map<string, RenderedService>();
  const services = new Map<string, RenderedService>();
  const changed: string[] = [];
  for (const service of desired.services) {
    if (services.has(service.id)) throw new RangeError(`service id ${service.id} is listed twice`);
    const previous = known.get(service.id);
    if (previous !== undefined && sameService(previous.input, service)) {
      services.set(service.id, previous);
      continue;
    }
    const ports = renderService(service);
    const objects = emptyObjects(family, layout);
    lowerPorts(ports, objects);
    if (isProxied(service)) lowerProxied(guardAddress(service.vip), objects);
    services.set(service.id, { input: service, ports, objects });
    changed.push(service.id);
  }
  const table = { layout, markBit, serviceCidrs, services };
  if (belief === null || belief.table === null || !sameBase) {
    const nextBelief: Belief = { family, table, staleChains: [] };
    const all = beliefObjects(nextBelief)!;
    return syncPlan(family, coldOps(all), null, nextBelief, all.sets);
  }
  // Only the services that changed, came or went take part in the diff (with the static objects).
  const before = lowerStatic({ family, layout, markBit, serviceCidrs: belief.table.serviceCidrs });
  const after = lowerStatic({ family, layout, markBit, serviceCidrs });
  for (const id of changed) {
    const old = belief.table.services.get(id);
    if (old) mergeObjects(before, old.objects);
    mergeObjects(after, services.get(id)!.objects);
  }
  const gone: string[] = [];
  for (const [id, old] of belief.table.services) {
    if (services.has(id)) continue;
    mergeObjects(before, old.objects);
    gone.push(id);
  }
  const index = nextSharedIndex(belief.table.services, services, [...changed, ...gone]);
  keepSharedElements(before, after, services, new Set(changed), index);
  const diff = diffOps(before, after);
  const staleChains = [...new Set([...belief.staleChains, ...diff.goneChains])].filter((c) => !after.chains.has(c)).sort(compareText);
  const nextBelief: Belief = { family, table, staleChains };
  return syncPlan(family, diff.ops, planCleanup(nextBelief).transaction || null, nextBelief, new Map([...before.sets, ...after.sets]));
}

function syncPlan(family: 4 | 6, ops: Op[], deferred: string | null, belief: Belief, sets: Map<string, SetObject> = new Map()): SyncPlan {
  let text: string | undefined;
  return {
    family,
    ops,
    get transaction() {
      text ??= opsText(family, ops);
      return text;
    },
    deferred,
    belief,
    sets,
  };
}

/** The table a belief stands for, as IR (for the tracer, or to show); null when absent. */
export function beliefTable(belief: Belief): TableIR | null {
  if (belief.table === null) return null;
  const services = [...belief.table.services.values()];
  const ports = services.flatMap((s) => s.ports).sort((a, b) => compareText(portKey(a), portKey(b)));
  const proxiedVips = services.filter((s) => isProxied(s.input)).map((s) => s.input.vip).sort(compareText);
  return { family: belief.family, layout: belief.table.layout, markBit: belief.table.markBit, serviceCidrs: belief.table.serviceCidrs, ports, proxiedVips };
}

/** The whole table a belief stands for, as objects (per-service shares merged, as a cold rewrite would load); null when absent. */
export function beliefObjects(belief: Belief): TableObjects | null {
  if (belief.table === null) return null;
  const { layout, markBit, serviceCidrs, services } = belief.table;
  const all = lowerStatic({ family: belief.family, layout, markBit, serviceCidrs });
  for (const s of services.values()) mergeObjects(all, s.objects);
  return all;
}

/**
 * Whether the objects read back from the kernel (objectsFromListing) are the table the belief
 * stands for: the periodic check (design §9). Chains the belief still has to delete may be
 * there, empty; elements that packets write (affinity sets) are not compared.
 */
export function holdsBelief(held: TableObjects | null, belief: Belief): boolean {
  const expected = beliefObjects(belief);
  if (held === null || expected === null) return held === expected;
  if (held.layout !== expected.layout || held.family !== expected.family) return false;
  for (const [name, chain] of held.chains) {
    if (!expected.chains.has(name) && !(belief.staleChains.includes(name) && chain.rules.length === 0)) return false;
  }
  for (const [name, chain] of expected.chains) if (!sameChain(held.chains.get(name), chain)) return false;
  if (held.sets.size !== expected.sets.size) return false;
  for (const [name, set] of expected.sets) if (held.sets.get(name)?.spec !== set.spec || held.sets.get(name)?.kind !== set.kind) return false;
  const sets = new Set([...held.elements.keys(), ...expected.elements.keys()]);
  for (const set of sets) {
    const a = held.elements.get(set) ?? new Map<string, string>();
    const b = expected.elements.get(set) ?? new Map<string, string>();
    if (a.size !== b.size) return false;
    for (const [key, text] of b) if (a.get(key) !== text) return false;
  }
  return true;
}

/** Deep equality of two desired services, without allocating (a sync compares every service). */
export function sameService(a: DesiredService, b: DesiredService): boolean {
  if (a === b) return true;
  if (a.id !== b.id || a.name !== b.name || a.vip !== b.vip || a.affinity?.timeoutSeconds !== b.affinity?.timeoutSeconds) return false;
  // The kernel table holds only a proxied service's VIP: its pool and settings are the proxy's.
  if ((a.plane ?? "kernel") !== (b.plane ?? "kernel")) return false;
  if (isProxied(a)) return true;
  if (a.ports.length !== b.ports.length || a.members.length !== b.members.length) return false;
  for (let i = 0; i < a.ports.length; i++) {
    const p = a.ports[i]!;
    const q = b.ports[i]!;
    if (p.protocol !== q.protocol || p.port !== q.port || p.targetPort !== q.targetPort || p.name !== q.name) return false;
  }
  for (let i = 0; i < a.members.length; i++) {
    const m = a.members[i]!;
    const n = b.members[i]!;
    if (m.address !== n.address || m.port !== n.port || m.weight !== n.weight || m.state !== n.state || m.health !== n.health || m.localCidr !== n.localCidr) return false;
  }
  return true;
}

/** Per shared set, element key → the services whose objects hold it. */
type SharedIndex = Map<string, Map<string, Set<string>>>;

/**
 * The index of a belief's services map. A sync moves it from the old map to the new one,
 * updating only the services that changed or went (the old belief loses it and rebuilds it if it
 * is planned from again), so finding which services share a changed member's element does not
 * walk every service: at 10,000 services that walk was most of a change's planning.
 */
const sharedIndexes = new WeakMap<Map<string, RenderedService>, SharedIndex>();

function buildSharedIndex(services: Map<string, RenderedService>): SharedIndex {
  const index: SharedIndex = new Map(SHARED_SETS.map((set) => [set, new Map()]));
  for (const [id, s] of services) indexService(index, id, s, 1);
  return index;
}

function indexService(index: SharedIndex, id: string, s: RenderedService, sign: 1 | -1): void {
  for (const set of SHARED_SETS) {
    const keys = s.objects.elements.get(set);
    if (!keys) continue;
    const holders = index.get(set)!;
    for (const key of keys.keys()) {
      let ids = holders.get(key);
      if (sign === 1) {
        if (!ids) holders.set(key, (ids = new Set()));
        ids.add(id);
      } else if (ids) {
        ids.delete(id);
        if (ids.size === 0) holders.delete(key);
      }
    }
  }
}

function nextSharedIndex(old: Map<string, RenderedService>, next: Map<string, RenderedService>, touched: readonly string[]): SharedIndex {
  const index = sharedIndexes.get(old) ?? buildSharedIndex(old);
  sharedIndexes.delete(old);
  for (const id of touched) {
    const before = old.get(id);
    if (before) indexService(index, id, before, -1);
    const after = next.get(id);
    if (after) indexService(index, id, after, 1);
  }
  sharedIndexes.set(next, index);
  return index;
}

/**
 * An element of a shared set (a member in two services) that a service still holds stays: it is
 * put on both sides of the diff, so neither a delete nor a duplicate add is written for it.
 */
function keepSharedElements(before: TableObjects, after: TableObjects, services: Map<string, RenderedService>, changed: Set<string>, index: SharedIndex): void {
  for (const set of SHARED_SETS) {
    const keys = new Set([...(before.elements.get(set)?.keys() ?? []), ...(after.elements.get(set)?.keys() ?? [])]);
    for (const key of keys) {
      for (const id of index.get(set)?.get(key) ?? []) {
        if (changed.has(id)) continue;
        const text = services.get(id)!.objects.elements.get(set)!.get(key)!;
        before.elements.get(set)!.set(key, text);
        after.elements.get(set)!.set(key, text);
        break;
      }
    }
  }
}

function mergeObjects(into: TableObjects, part: TableObjects): void {
  for (const [name, chain] of part.chains) into.chains.set(name, chain);
  for (const [name, set] of part.sets) into.sets.set(name, set);
  for (const [set, elements] of part.elements) {
    let target = into.elements.get(set);
    if (!target) into.elements.set(set, (target = new Map()));
    for (const [key, text] of elements) target.set(key, text);
  }
}

/** The deferred deletes of emptied chains, and the belief once they succeeded. */
export function planCleanup(belief: Belief): { ops: Op[]; transaction: string; belief: Belief } {
  const ops: Op[] = belief.staleChains.map((name) => ({ kind: "chain", verb: "delete", name }));
  return { ops, transaction: opsText(belief.family, ops), belief: { ...belief, staleChains: [] } };
}

/** A full rewrite: `add table; delete table; add table …` in one transaction, whatever was there (§3). */
export function coldOps(objects: TableObjects): Op[] {
  const ops: Op[] = [
    { kind: "table", verb: "add", comment: true },
    { kind: "table", verb: "delete" },
    { kind: "table", verb: "add", comment: true },
  ];
  for (const name of orderedNames(objects.sets.keys(), STATIC_SETS)) ops.push({ kind: "set", verb: "add", name, set: objects.sets.get(name)! });
  const chainNames = orderedNames(objects.chains.keys(), STATIC_CHAINS);
  for (const name of chainNames) ops.push({ kind: "chain", verb: "add", name, spec: objects.chains.get(name)!.spec });
  for (const chain of chainNames) for (const rule of objects.chains.get(chain)!.rules) ops.push({ kind: "rule", chain, rule });
  pushElements(ops, "add", objects.elements, () => true);
  return ops;
}

/**
 * Only what changed (§9 steps 1–4): new and changed chains are (re)declared, flushed and refilled;
 * unchanged ones are untouched; elements are added, deleted+added when their value changed, or
 * deleted; gone chains are flushed (deleted later); gone affinity sets are deleted once the chains
 * using them are flushed. A set whose declaration changed is swapped (delete + add) with every
 * chain that names it rewritten in the same transaction (nft refuses to re-add it with other flags).
 */
export function diffOps(before: TableObjects, after: TableObjects): { ops: Op[]; goneChains: string[] } {
  const changedSets = [...after.sets].filter(([n, s]) => before.sets.has(n) && (before.sets.get(n)!.spec !== s.spec || before.sets.get(n)!.kind !== s.kind)).map(([n]) => n);
  const goneSets = [...before.sets.keys()].filter((n) => !after.sets.has(n));
  const newSets = [...after.sets.keys()].filter((n) => !before.sets.has(n));
  const refersToChangedSet = (rules: string[]) => changedSets.some((s) => rules.some((r) => r.includes(`@${s} `) || r.endsWith(`@${s}`)));
  const written = orderedNames(
    [...after.chains].filter(([n, c]) => !sameChain(before.chains.get(n), c) || refersToChangedSet(c.rules)).map(([n]) => n),
    STATIC_CHAINS,
  );
  const gone = [...before.chains.keys()].filter((n) => !after.chains.has(n)).sort(compareText);

  const ops: Op[] = [];
  for (const name of written) ops.push({ kind: "chain", verb: "add", name, spec: after.chains.get(name)!.spec }, { kind: "chain", verb: "flush", name });
  for (const name of gone) ops.push({ kind: "chain", verb: "flush", name });
  for (const name of [...goneSets, ...changedSets].sort(compareText)) ops.push({ kind: "set", verb: "delete", name, set: before.sets.get(name)! });
  for (const name of orderedNames([...newSets, ...changedSets], STATIC_SETS)) ops.push({ kind: "set", verb: "add", name, set: after.sets.get(name)! });
  for (const chain of written) for (const rule of after.chains.get(chain)!.rules) ops.push({ kind: "rule", chain, rule });
  pushElements(ops, "delete", before.elements, (set, key, text) => after.elements.get(set)?.get(key) !== text && !changedSets.includes(set));
  pushElements(ops, "add", after.elements, (set, key, text) => before.elements.get(set)?.get(key) !== text || changedSets.includes(set));
  return { ops, goneChains: gone };
}

function sameChain(a: { spec: string | null; rules: string[] } | undefined, b: { spec: string | null; rules: string[] }): boolean {
  return a !== undefined && a.spec === b.spec && a.rules.length === b.rules.length && a.rules.every((r, i) => r === b.rules[i]);
}

/** Elements per statement: one statement per element cost nft 3× more at 10k services (bench/README.md). */
const ELEMENTS_PER_STATEMENT = 1000;

/** Elements in set order (static first), keys sorted, batched per set; a delete names the key only. */
function pushElements(ops: Op[], verb: "add" | "delete", elements: Map<string, Map<string, string>>, pick: (set: string, key: string, text: string) => boolean): void {
  for (const set of orderedNames(elements.keys(), STATIC_SETS)) {
    const entries = [...elements.get(set)!].filter(([k, text]) => pick(set, k, text)).sort(([a], [b]) => compareText(a, b));
    for (let i = 0; i < entries.length; i += ELEMENTS_PER_STATEMENT) {
      ops.push({ kind: "elements", verb, set, items: entries.slice(i, i + ELEMENTS_PER_STATEMENT).map(([key, text]) => (verb === "add" ? text : key)) });
    }
  }
}
