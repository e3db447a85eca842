/**
 * A CPU profile of one stretch of a process's life, for the benchmarks that start processes of their
 * own (fleet.ts's replicas and agent workers): `start()` when the stretch begins, `stop(path)` writes
 * what V8's sampling profiler saw meanwhile as a .cpuprofile (Chrome DevTools, speedscope). Node's
 * --cpu-prof covers the whole life and is written only at a clean exit; a burst is a few seconds of it.
 */
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";

export interface StretchProfiler {
  start(): Promise<void>;
  /** Writes the profile to `path`; false when none was running. */
  stop(path: string): Promise<boolean>;
}

export function createStretchProfiler(): StretchProfiler {
  let session: Session | undefined;
  return {
    async start() {
      if (session) return;
      session = new Session();
      session.connect();
      await session.post("Profiler.enable");
      await session.post("Profiler.start");
    },
    async stop(path) {
      const running = session;
      if (!running) return false;
      session = undefined;
      const { profile } = await running.post("Profiler.stop");
      running.disconnect();
      writeFileSync(path, JSON.stringify(profile));
      return true;
    },
  };
}
