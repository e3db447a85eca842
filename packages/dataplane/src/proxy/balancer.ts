import type { Balance } from "./config";
import { heapify, popHeap, pushHeap, siftDown } from "./heap";
import { murmur3 } from "./murmur3";

/**
 * Which member takes a new connection (TCP) or request (HTTP), issue 14. A picker is built over
 * the members that may take new traffic and rebuilt whenever that set changes (config, ejection,
 * health); building is O(n), or O(n + table log n) for Maglev, so picking can be cheap:
 *
 * - round-robin: earliest-deadline-first over weight classes, O(log k) a pick (k = distinct
 *   weights, at most 1000). Exact over every window of Σweight picks (retries aside), and smooth.
 * - least-connections: nginx's least_conn (a scan, ties by smooth weighted round robin) up to
 *   64 members, O(n) a pick; above that weighted power of two choices, O(log n) a pick.
 * - consistent-hash: weighted Maglev over a 65537-slot table, O(1) a pick.
 */

export interface Endpoint {
  /** `memberKey(member)`. */
  key: string;
  /** 1..1000; members of weight 0 take no new traffic and are left out by the caller (ignored here). */
  weight: number;
}

export interface Picker {
  /**
   * The member key for a new connection or request, or null when none can take it.
   * `hashKey`: the client address or header value (consistent-hash only; null falls back to round robin).
   * `exclude`: keys already tried for this request, so a retry goes to another member.
   */
  pick(hashKey: string | null, exclude?: ReadonlySet<string>): string | null;
}

export interface PickerOptions {
  /** Uniform in [0, 1): power of two choices' draws and where round robin starts. Tests pass a seeded one. */
  random?: () => number;
}

/** Above this many members least-connections stops scanning and samples two (power of two choices). */
const LEAST_CONNECTIONS_SCAN_LIMIT = 64;

/**
 * Maglev's lookup table size M: a prime, so every skip in 1..M-1 walks the whole table (§3.4 of
 * the paper), and Envoy's default. Fixed for every pool size: a table that grew with the pool
 * would remap every key when a member came or went, which is what consistent hashing is for.
 * At 65537 slots a member of a 10,000-member pool holds ~6.5 slots, so shares are within ±1 slot
 * (±15%) there; within 1% up to ~650 equal members.
 */
const MAGLEV_TABLE_SIZE = 65537;

/**
 * A picker over `endpoints`: the members that may take new traffic (the caller has already left
 * out draining, maintenance, weight 0, unhealthy and ejected ones). `inflight` is the caller's
 * live count of open connections/requests per key; it outlives pickers, least-connections reads it.
 */
export function createPicker(balance: Balance, endpoints: readonly Endpoint[], inflight: ReadonlyMap<string, number>, options: PickerOptions = {}): Picker {
  const pool = indexPool(endpoints);
  if (pool.keys.length === 0) return { pick: () => null };
  const random = options.random ?? Math.random;
  switch (balance.algorithm) {
    case "round-robin":
      return createRoundRobin(pool, random);
    case "least-connections":
      return pool.keys.length <= LEAST_CONNECTIONS_SCAN_LIMIT ? createLeastConnectionsScan(pool, inflight) : createLeastConnectionsSampled(pool, inflight, random);
    case "consistent-hash":
      return createMaglev(pool, createRoundRobin(pool, random));
  }
}

/** The endpoints as parallel arrays, with a key → index map for `exclude`. */
interface Pool {
  keys: string[];
  weights: number[];
  indexOf: Map<string, number>;
}

function indexPool(endpoints: readonly Endpoint[]): Pool {
  const pool: Pool = { keys: [], weights: [], indexOf: new Map() };
  for (const { key, weight } of endpoints) {
    if (weight === 0) continue;
    if (!Number.isInteger(weight) || weight < 0 || weight > 1000) throw new Error(`endpoint ${key} has weight ${weight}: it must be a whole number from 1 to 1000`);
    if (pool.indexOf.has(key)) throw new Error(`endpoint ${key} is listed twice: each member may appear once in a pool`);
    pool.indexOf.set(key, pool.keys.length);
    pool.keys.push(key);
    pool.weights.push(weight);
  }
  return pool;
}

/** Whether `exclude` names every member of the pool (then nothing can be picked). O(|exclude|). */
function excludesAll(pool: Pool, exclude: ReadonlySet<string>): boolean {
  if (exclude.size < pool.keys.length) return false;
  let named = 0;
  for (const key of exclude) if (pool.indexOf.has(key)) named++;
  return named === pool.keys.length;
}

// ---------------------------------------------------------------------------------------------
// Round robin

/**
 * Members of one weight, taken in turn. The class as a whole is scheduled earliest deadline first
 * (Envoy's EDF scheduler) with weight c·w: its m-th pick is due at (m − ½) / (c·w). Starting at
 * the half step (Sainte-Laguë's divisors) rather than at 1/(c·w) keeps light classes from all
 * falling due together at the end of a period. Deadlines are exact rationals: an epoch (whole
 * periods) and a numerator 2m − 1 over `span` = 2·c·w, compared by cross-multiplying.
 */
interface WeightClass {
  members: number[];
  /** Position in `members` of the next to take a turn. */
  next: number;
  /** Picks per period (c·w). */
  perPeriod: number;
  span: number;
  epoch: number;
  /** 1..perPeriod: which pick of the period is due next. */
  m: number;
  order: number;
}

function compareDeadlines(a: WeightClass, b: WeightClass): number {
  if (a.epoch !== b.epoch) return a.epoch - b.epoch;
  return (2 * a.m - 1) * b.span - (2 * b.m - 1) * a.span || a.order - b.order;
}

/**
 * Weighted round robin, exact and smooth like nginx's smooth weighted round robin but O(log k) a
 * pick instead of O(n): every deadline recurs one period later, so the sequence repeats every
 * Σweight picks and each window of Σweight consecutive picks holds each member exactly `weight`
 * times. Members of equal weight alternate (one class, taken in turn), and a class never strays
 * more than half a pick from its share of the picks' deadline time.
 */
function createRoundRobin(pool: Pool, random: () => number): Picker {
  const byWeight = new Map<number, number[]>();
  pool.weights.forEach((w, i) => {
    const members = byWeight.get(w);
    if (members) members.push(i);
    else byWeight.set(w, [i]);
  });
  const heap: WeightClass[] = [];
  for (const [weight, members] of byWeight) {
    const perPeriod = members.length * weight;
    // Cross-multiplied numerators reach (2·c·w)²; keep them exact doubles.
    if ((2 * perPeriod) ** 2 > Number.MAX_SAFE_INTEGER) throw new Error(`${members.length} members of weight ${weight} are too many for round robin: at most ${Math.floor(Math.sqrt(Number.MAX_SAFE_INTEGER) / 2 / weight)}`);
    // A random first member, so that each rebuild (and each worker) does not start on the same one.
    heap.push({ members, next: Math.floor(random() * members.length), perPeriod, span: 2 * perPeriod, epoch: 0, m: 1, order: heap.length });
  }
  heapify(heap, compareDeadlines);

  /** Gives the turn to the member at `position` of the class on top, and reschedules the class. */
  function takeTurn(position: number): number {
    const top = heap[0]!;
    const picked = top.members[position]!;
    top.next = position + 1 === top.members.length ? 0 : position + 1;
    if (top.m === top.perPeriod) {
      top.m = 1;
      top.epoch++;
    } else top.m++;
    siftDown(heap, 0, compareDeadlines);
    return picked;
  }

  return {
    pick(_hashKey, exclude) {
      if (!exclude || exclude.size === 0) return pool.keys[takeTurn(heap[0]!.next)]!;
      if (excludesAll(pool, exclude)) return null;
      // Classes whose members are all excluded step aside for this pick and keep their deadline.
      const aside: WeightClass[] = [];
      let picked = -1;
      while (picked < 0) {
        const top = heap[0]!;
        const { members, next } = top;
        for (let step = 0; step < members.length; step++) {
          const position = (next + step) % members.length;
          if (!exclude.has(pool.keys[members[position]!]!)) {
            picked = takeTurn(position);
            break;
          }
        }
        if (picked < 0) aside.push(popHeap(heap, compareDeadlines));
      }
      for (const cls of aside) pushHeap(heap, cls, compareDeadlines);
      return pool.keys[picked]!;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Least connections

/**
 * nginx's least_conn (ngx_http_upstream_least_conn_module.c): the lowest inflight/weight wins;
 * among members tied on it, smooth weighted round robin picks, with the weights of the tied ones
 * alone. With no traffic in flight every member ties, so sequential requests spread by weight
 * exactly. O(n) a pick, hence only for small pools.
 */
function createLeastConnectionsScan(pool: Pool, inflight: ReadonlyMap<string, number>): Picker {
  const { keys, weights } = pool;
  const current = new Float64Array(keys.length); // smooth round robin's running weights
  return {
    pick(_hashKey, exclude) {
      let best = -1;
      let bestLoad = 0;
      let tied = false;
      for (let i = 0; i < keys.length; i++) {
        if (exclude?.has(keys[i]!)) continue;
        const load = inflight.get(keys[i]!) ?? 0;
        // load/weight < bestLoad/bestWeight, cross-multiplied (nginx does the same).
        const difference = best < 0 ? -1 : load * weights[best]! - bestLoad * weights[i]!;
        if (difference < 0) {
          best = i;
          bestLoad = load;
          tied = false;
        } else if (difference === 0) tied = true;
      }
      if (best < 0) return null;
      if (!tied) return keys[best]!;
      const bestWeight = weights[best]!;
      let chosen = best;
      let total = 0;
      for (let i = best; i < keys.length; i++) {
        if (exclude?.has(keys[i]!)) continue;
        if ((inflight.get(keys[i]!) ?? 0) * bestWeight !== bestLoad * weights[i]!) continue;
        current[i]! += weights[i]!;
        total += weights[i]!;
        if (current[i]! > current[chosen]!) chosen = i;
      }
      current[chosen]! -= total;
      return keys[chosen]!;
    },
  };
}

/** Draws per candidate before giving up on sampling around excluded members. */
const SAMPLE_ATTEMPTS = 4;

/**
 * Weighted power of two choices (Mitzenmacher; Envoy's least_request): two members drawn in
 * proportion to weight, the lower inflight/weight of the two wins, the first drawn on a tie, so
 * with nothing in flight the spread follows the weights (in expectation). O(log n) a pick:
 * a draw is a binary search over the running sum of weights.
 */
function createLeastConnectionsSampled(pool: Pool, inflight: ReadonlyMap<string, number>, random: () => number): Picker {
  const { keys, weights } = pool;
  const cumulative = new Float64Array(keys.length);
  let total = 0;
  weights.forEach((w, i) => {
    total += w;
    cumulative[i] = total;
  });

  function draw(exclude: ReadonlySet<string> | undefined): number {
    for (let attempt = 0; attempt < SAMPLE_ATTEMPTS; attempt++) {
      const target = Math.floor(random() * total);
      let low = 0;
      let high = keys.length - 1;
      while (low < high) {
        const middle = (low + high) >>> 1;
        if (cumulative[middle]! > target) high = middle;
        else low = middle + 1;
      }
      if (!exclude?.has(keys[low]!)) return low;
    }
    return -1;
  }

  const loadOf = (i: number) => inflight.get(keys[i]!) ?? 0;

  return {
    pick(_hashKey, exclude) {
      if (exclude && exclude.size > 0 && excludesAll(pool, exclude)) return null;
      const first = draw(exclude);
      const second = draw(exclude);
      if (first >= 0 && second >= 0) return keys[loadOf(second) * weights[first]! < loadOf(first) * weights[second]! ? second : first]!;
      if (first >= 0 || second >= 0) return keys[Math.max(first, second)]!;
      // The excluded members hold nearly all the weight: scan the rest (rare, O(n)).
      let best = -1;
      for (let i = 0; i < keys.length; i++) {
        if (exclude?.has(keys[i]!)) continue;
        if (best < 0 || loadOf(i) * weights[best]! < loadOf(best) * weights[i]!) best = i;
      }
      return keys[best]!;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Consistent hash

const SEED_OFFSET = 0;
const SEED_SKIP = 1;
const SEED_KEY = 2;
const SEED_STRIDE = 3;
const EMPTY_SLOT = 0xffff;

/**
 * Maglev (Eisenbud et al., NSDI 2016, §3.4), weighted as Envoy's maglev_lb.cc does it. Each
 * member owns a permutation of the table's slots (offset and skip from two hashes of its key)
 * and, taking turns, claims its next free slot until the table is full; a member of weight w
 * gets a turn every wMax/w rounds, so it ends up with about w/Σw of the slots. A key hashes to
 * a slot and goes to that slot's member: the same key finds the same member while the pool is
 * unchanged, and removing one member of n moves about 1/n of the keys (a little more: the
 * paper's Figure 12). A retry walks the table from the key's slot to the first member not tried,
 * by a stride from a second hash of the key: stepping by one slot would hand a failed member's
 * keys to its neighbours unevenly (the owners of adjacent slots are correlated through the
 * permutations; 4:1 among 5 equal members, measured), a per-key stride spreads them by weight.
 * M is prime, so any stride visits every slot.
 */
function createMaglev(pool: Pool, fallback: Picker): Picker {
  const table = buildMaglevTable(pool, MAGLEV_TABLE_SIZE);
  return {
    pick(hashKey, exclude) {
      if (hashKey === null) return fallback.pick(null, exclude);
      let slot = murmur3(hashKey, SEED_KEY) % table.length;
      if (exclude && exclude.size > 0 && exclude.has(pool.keys[table[slot]!]!)) {
        if (excludesAll(pool, exclude)) return null;
        const stride = (murmur3(hashKey, SEED_STRIDE) % (table.length - 1)) + 1;
        do slot = (slot + stride) % table.length;
        while (exclude.has(pool.keys[table[slot]!]!));
      }
      return pool.keys[table[slot]!]!;
    },
  };
}

/**
 * The table: slot → member index. Turns are served from a heap ordered by round, then member key
 * (so the table does not depend on the order members are listed in): Envoy's nested loop without
 * visiting members that sit a round out. Member j's k-th turn is in round ⌈k·wMax/wⱼ⌉.
 * O(M log n) for the turns plus O(M ln M) expected probes for free slots.
 */
function buildMaglevTable(pool: Pool, size: number): Uint16Array {
  const n = pool.keys.length;
  if (n >= EMPTY_SLOT || n >= size) throw new Error(`${n} members are too many for consistent hashing: at most ${Math.min(EMPTY_SLOT, size) - 1}`);
  const skip = new Uint32Array(n);
  const position = new Uint32Array(n); // the next slot of each member's permutation
  pool.keys.forEach((key, j) => {
    position[j] = murmur3(key, SEED_OFFSET) % size;
    skip[j] = (murmur3(key, SEED_SKIP) % (size - 1)) + 1;
  });
  const maxWeight = Math.max(...pool.weights);
  const turns = new Float64Array(n);
  const round = new Float64Array(n); // all start in round 0
  const rank = new Uint32Array(n);
  Array.from({ length: n }, (_, j) => j)
    .sort((a, b) => (pool.keys[a]! < pool.keys[b]! ? -1 : 1))
    .forEach((j, r) => {
      rank[j] = r;
    });
  const byTurn = (a: number, b: number) => round[a]! - round[b]! || rank[a]! - rank[b]!;
  const heap = Array.from({ length: n }, (_, j) => j);
  heapify(heap, byTurn);

  const table = new Uint16Array(size).fill(EMPTY_SLOT);
  for (let filled = 0; filled < size; filled++) {
    const j = heap[0]!;
    let slot = position[j]!;
    while (table[slot] !== EMPTY_SLOT) slot = (slot + skip[j]!) % size;
    table[slot] = j;
    position[j] = (slot + skip[j]!) % size;
    turns[j]!++;
    round[j] = Math.ceil((turns[j]! * maxWeight) / pool.weights[j]!);
    siftDown(heap, 0, byTurn);
  }
  return table;
}

