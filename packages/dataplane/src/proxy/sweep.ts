/**
 * The HTTP path's timeouts (header, connect, response, idle) without a timer per request: each
 * connection keeps the times it needs, and one interval per worker asks every live connection
 * whether a deadline has passed (as node:http's connectionsCheckingInterval does). A request costs
 * a few number writes; a deadline is kept to within one tick.
 */

export interface Swept {
  /** Called every tick with performance.now(); closes the connection when a deadline passed. */
  check(now: number): void;
}

export const SWEEP_TICK_MS = 100;

const live = new Set<Swept>();
let timer: NodeJS.Timeout | null = null;

function tick(): void {
  const now = performance.now();
  for (const s of live) s.check(now);
}

export function watch(s: Swept): void {
  live.add(s);
  if (timer === null) {
    timer = setInterval(tick, SWEEP_TICK_MS);
    timer.unref();
  }
}

export function unwatch(s: Swept): void {
  live.delete(s);
  if (live.size === 0 && timer !== null) {
    clearInterval(timer);
    timer = null;
  }
}
