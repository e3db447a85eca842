import type { PassiveHealth } from "./config";

/**
 * Passive health (issue 14), after Envoy's outlier detection: members whose requests fail are
 * ejected for a while without waiting for an active check. Two halves: each worker counts
 * outcomes and notices a member crossing a threshold (`createFailureDetector`, on the hot path);
 * the primary decides whether to eject it, for how long, and when it comes back
 * (`createEjections`). Both read an injected clock, so neither holds a timer.
 */

export interface Clock {
  /** Milliseconds. */
  now(): number;
}

export interface FailureDetector {
  /**
   * One outcome of a request/connection to member `key`. A reason ("5 consecutive failures",
   * "62% of 40 requests failed in 10 s") when the member just crossed a threshold, else null.
   * After a reason the member's counters start again from nothing. O(1).
   */
  record(key: string, ok: boolean): string | null;
  /** Forget members no longer in the config. */
  retain(keys: ReadonlySet<string>): void;
}

/** The failure-rate window is kept in this many buckets (Envoy's success-rate detector works on intervals similarly). */
const WINDOW_BUCKETS = 10;

interface MemberCounts {
  consecutiveFailures: number;
  /** Ring of per-bucket counts; `head` is the absolute number of the newest bucket. */
  requests: Uint32Array;
  failures: Uint32Array;
  head: number;
  totalRequests: number;
  totalFailures: number;
}

/**
 * Counts outcomes per member: a run of consecutive failures, and failures over a sliding window
 * of `windowSeconds` kept in 10 buckets, so the window is between 9/10 and all of `windowSeconds`
 * long and a record costs O(1) (at most 10 buckets are cleared when time has moved on). The rate
 * is judged only once the window holds `failureRateMinRequests`, so one failure of one request
 * does not eject a quiet member. A clock that steps back is treated as standing still.
 */
export function createFailureDetector(settings: PassiveHealth, clock: Clock): FailureDetector {
  const bucketMs = (settings.windowSeconds * 1000) / WINDOW_BUCKETS;
  const members = new Map<string, MemberCounts>();

  function countsOf(key: string, bucket: number): MemberCounts {
    let counts = members.get(key);
    if (!counts) {
      counts = { consecutiveFailures: 0, requests: new Uint32Array(WINDOW_BUCKETS), failures: new Uint32Array(WINDOW_BUCKETS), head: bucket, totalRequests: 0, totalFailures: 0 };
      members.set(key, counts);
      return counts;
    }
    // Buckets that fell out of the window since the last record are emptied.
    const steps = Math.min(bucket - counts.head, WINDOW_BUCKETS);
    for (let step = 1; step <= steps; step++) {
      const slot = (counts.head + step) % WINDOW_BUCKETS;
      counts.totalRequests -= counts.requests[slot]!;
      counts.totalFailures -= counts.failures[slot]!;
      counts.requests[slot] = 0;
      counts.failures[slot] = 0;
    }
    if (bucket > counts.head) counts.head = bucket;
    return counts;
  }

  return {
    record(key, ok) {
      const counts = countsOf(key, Math.floor(clock.now() / bucketMs));
      const slot = counts.head % WINDOW_BUCKETS;
      counts.requests[slot]!++;
      counts.totalRequests++;
      if (ok) counts.consecutiveFailures = 0;
      else {
        counts.failures[slot]!++;
        counts.totalFailures++;
        counts.consecutiveFailures++;
      }

      let reason: string | null = null;
      if (settings.consecutiveFailures > 0 && counts.consecutiveFailures >= settings.consecutiveFailures) {
        reason = `${counts.consecutiveFailures} consecutive failures`;
      } else if (
        settings.failureRatePercent !== null &&
        counts.totalRequests >= settings.failureRateMinRequests &&
        counts.totalFailures * 100 >= settings.failureRatePercent * counts.totalRequests
      ) {
        // Rounded down, so the figure shown is never below the threshold it crossed.
        const percent = Math.floor((counts.totalFailures * 100) / counts.totalRequests);
        reason = `${percent}% of ${counts.totalRequests} requests failed in ${settings.windowSeconds} s`;
      }
      if (reason !== null) members.delete(key);
      return reason;
    },
    retain(keys) {
      for (const key of members.keys()) if (!keys.has(key)) members.delete(key);
    },
  };
}

export interface Ejection {
  key: string;
  reason: string;
  /** When it was ejected and when it comes back (ms, the clock's). */
  since: number;
  until: number;
  /** How many times in a row it has been ejected, this one included: the duration's multiplier. */
  count: number;
}

export interface Ejections {
  /**
   * A worker reports that member `key` of pool `poolId` crossed a threshold; `poolSize` is how
   * many members the pool has now. Returns the ejection, or why there is none.
   */
  report(poolId: string, poolSize: number, key: string, reason: string, settings: PassiveHealth): Ejection | { refused: string };
  /** Ejections that ended by now, removed: those members take traffic again. */
  expire(): Ejection[];
  /** Ejections in force, of one pool or of all (for the workers and the service page). */
  active(poolId?: string): Ejection[];
  /** When the next ejection ends (ms), or null: the caller's one timer. */
  nextExpiry(): number | null;
  /** Forget the members of `poolId` not in `keys` (an empty set forgets the pool). */
  retain(poolId: string, keys: ReadonlySet<string>): void;
}

/** A member's ejection streak: it counts on while the member is ejected again within maxEjectionSeconds of coming back. */
interface Streak {
  count: number;
  /** When its last ejection ended (ms). */
  returnedAt: number;
}

/**
 * The primary's ledger of ejections, one per proxy process. The n-th ejection in a row lasts
 * n × baseEjectionSeconds, at most maxEjectionSeconds (Envoy's base_ejection_time ×
 * num_ejections, capped by max_ejection_time); a member that stays in for maxEjectionSeconds
 * starts over at 1 (where Envoy steps down one per interval).
 *
 * How many may be out at once: at most ⌊maxEjectedPercent × poolSize / 100⌋, and never the last
 * member of a pool of two or more, as PassiveHealth promises ("at least one member stays unless
 * the pool has one"). Envoy instead always allows one ejection; we keep the share a ceiling, so a
 * pool of 1 is ejected only at 100%, and 10% ejects nothing from pools under 10 members.
 */
export function createEjections(clock: Clock): Ejections {
  const ejected = new Map<string, Map<string, Ejection>>();
  const streaks = new Map<string, Map<string, Streak>>();

  function inForce(pool: Map<string, Ejection> | undefined, now: number): Ejection[] {
    return pool ? [...pool.values()].filter((e) => e.until > now) : [];
  }

  function endStreakAt(poolId: string, ejection: Ejection): void {
    let pool = streaks.get(poolId);
    if (!pool) streaks.set(poolId, (pool = new Map()));
    pool.set(ejection.key, { count: ejection.count, returnedAt: ejection.until });
  }

  return {
    report(poolId, poolSize, key, reason, settings) {
      const now = clock.now();
      const pool = ejected.get(poolId);
      const current = pool?.get(key);
      if (current && current.until > now) return { refused: `${key} is already ejected until ${new Date(current.until).toISOString()}` };
      // An ejection that ended but was not collected by expire() yet ends here.
      if (current) endStreakAt(poolId, current);

      const out = inForce(pool, now).length;
      const allowed = poolSize <= 1 ? Math.floor(settings.maxEjectedPercent / 100) : Math.min(Math.floor((settings.maxEjectedPercent * poolSize) / 100), poolSize - 1);
      if (out + 1 > allowed) {
        return { refused: `${key} stays in: ${out} of ${poolSize} members already ejected and the pool allows ${allowed} (maxEjectedPercent ${settings.maxEjectedPercent}, at least one member stays)` };
      }

      const streak = streaks.get(poolId)?.get(key);
      const count = streak && now - streak.returnedAt < settings.maxEjectionSeconds * 1000 ? streak.count + 1 : 1;
      const seconds = Math.min(settings.baseEjectionSeconds * count, settings.maxEjectionSeconds);
      const ejection: Ejection = { key, reason, since: now, until: now + seconds * 1000, count };
      if (pool) pool.set(key, ejection);
      else ejected.set(poolId, new Map([[key, ejection]]));
      return ejection;
    },

    expire() {
      const now = clock.now();
      const ended: Ejection[] = [];
      for (const [poolId, pool] of ejected) {
        for (const ejection of pool.values()) {
          if (ejection.until > now) continue;
          ended.push(ejection);
          pool.delete(ejection.key);
          endStreakAt(poolId, ejection);
        }
        if (pool.size === 0) ejected.delete(poolId);
      }
      return ended;
    },

    active(poolId) {
      const now = clock.now();
      if (poolId !== undefined) return inForce(ejected.get(poolId), now);
      return [...ejected.values()].flatMap((pool) => inForce(pool, now));
    },

    nextExpiry() {
      let next: number | null = null;
      for (const pool of ejected.values()) for (const e of pool.values()) if (next === null || e.until < next) next = e.until;
      return next;
    },

    retain(poolId, keys) {
      for (const ledger of [ejected, streaks]) {
        const pool = ledger.get(poolId);
        if (!pool) continue;
        for (const key of pool.keys()) if (!keys.has(key)) pool.delete(key);
        if (pool.size === 0) ledger.delete(poolId);
      }
    },
  };
}
