import { sleep } from "./sleep";

/** Time as the agent's loops see it: passed in, so a test can drive it. */
export interface Clock {
  /** Wall-clock time (ms since the epoch): for times sent to the console or logged. NTP or an operator can step it. */
  now(): number;
  /**
   * Milliseconds from an arbitrary origin that never steps: for every duration, period and deadline.
   * A wall-clock step (NTP, an operator setting the time) would make a deadline on `now()` never
   * come, or come at once.
   */
  monotonic(): number;
  /** Waits `ms`, or less when `signal` aborts (Node's timers are monotonic). */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = { now: () => Date.now(), monotonic: () => performance.now(), sleep };

/**
 * Wall-clock time as it was when this was made, moved on by the monotonic clock since: never goes
 * back within this process, whatever the wall clock is stepped to. For a time the console orders
 * things by (a metrics snapshot's `takenAt`: an older one does not replace a newer one).
 */
export function steadyWallClock(clock: Clock): Clock {
  const wallAtStart = clock.now();
  const monotonicAtStart = clock.monotonic();
  // Whole ms, as Date.now(): times go to the console, whose schemas take integers.
  return { ...clock, now: () => wallAtStart + Math.floor(clock.monotonic() - monotonicAtStart) };
}
