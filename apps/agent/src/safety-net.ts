import type { Clock } from "./clock";
import { type AgentJob, periodicJob } from "./jobs";
import type { Logger } from "./log";
import type { PushStreamState } from "./push";

/** A claim now and then even while pushes arrive: covers a missed event or a console restart during a back-off. */
export const SAFETY_NET_MS = 15_000;
/**
 * The same while one push stream has stayed open: the console pushes work, and a gap in its events
 * makes it claim by query (a resync), so this only backs that up. One claim a minute, not four:
 * 500 hosts' safety nets were 33 of a fleet's 124 requests a second at rest (bench/fleet.ts).
 */
export const SAFETY_NET_STREAMING_MS = 60_000;

/**
 * The claim safety net: every 15 s while the push stream is down (or has just reopened), every
 * minute while the same stream stays open.
 */
export function claimSafetyNet(deps: { claim(): Promise<void>; stream(): PushStreamState; clock: Clock; log: Logger }): AgentJob {
  // The last claim: when, and which opening of the stream it saw (the time it opened, as an identity).
  let last: { at: number; stream: number | undefined } = { at: deps.clock.monotonic(), stream: undefined };
  return periodicJob(
    "claim safety net",
    SAFETY_NET_MS,
    async () => {
      const now = deps.clock.monotonic();
      const state = deps.stream();
      const stream = state.open ? state.since.getTime() : undefined;
      if (stream !== undefined && stream === last.stream && now - last.at < SAFETY_NET_STREAMING_MS) return;
      last = { at: now, stream };
      await deps.claim().catch(() => {});
    },
    deps,
  );
}
