import { sleep } from "./sleep";

/** Time as the agent's loops see it: passed in, so a test can drive it. */
export interface Clock {
  now(): number;
  /** Waits `ms`, or less when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = { now: () => Date.now(), sleep };
