import type { Db } from "@switchyard/db";

/**
 * The time every console replica agrees on: the database's clock, as this process reckons it.
 *
 * Replicas write times (a host last seen, a session's expiry, a claim's lease, when an operation is
 * due) that other replicas compare with their own "now". With each replica on its own clock, one
 * 10 minutes ahead saw every host offline, every session of a 5-minute TTL expired and every claim
 * run out, and claimed those operations a second time (issue 15 §4). So shared decisions use the
 * database's clock: each process measures how far its clock is from the database's (`SELECT
 * clock_timestamp()`, the round trip's midpoint, the best of a few) and adds that to its own
 * monotonic clock, which no wall-clock step moves between two measurements. Before the first
 * measurement (and in tests that never start one) it is this process's clock.
 */
export function dbNowMs(): number {
  return performance.timeOrigin + performance.now() + offsetMs;
}

/** dbNowMs() as a Date: what a row's time is written as, and compared with. */
export function dbNow(): Date {
  return new Date(dbNowMs());
}

/** How far the database's clock is ahead of this process's (negative: behind), as last measured. */
export function clockOffsetMs(): number {
  return offsetMs;
}

/** How often a replica measures the offset again (clocks drift; an NTP step moves one at once). */
export const CLOCK_SYNC_MS = 60_000;
/** An offset beyond this is logged: this host's clock is wrong, even though the console no longer relies on it. */
export const CLOCK_OFFSET_WARN_MS = 1000;

let offsetMs = 0;

interface Sample {
  offsetMs: number;
  rttMs: number;
}

async function sample(db: Db): Promise<Sample> {
  const sent = performance.now();
  const [row] = await db.$queryRaw<{ now: Date }[]>`SELECT clock_timestamp() AS now`;
  const received = performance.now();
  if (!row) throw new Error("SELECT clock_timestamp() returned no row");
  const midpoint = performance.timeOrigin + (sent + received) / 2;
  return { offsetMs: row.now.getTime() - midpoint, rttMs: received - sent };
}

/** Measures the offset to the database's clock (the sample with the shortest round trip of `samples`) and uses it from now on. */
export async function syncClockWithDatabase(db: Db, samples = 3): Promise<Sample> {
  let best: Sample | undefined;
  for (let i = 0; i < samples; i++) {
    const s = await sample(db);
    if (!best || s.rttMs < best.rttMs) best = s;
  }
  offsetMs = best!.offsetMs;
  return best!;
}

export interface ClockSync {
  /** Resolves after the first measurement (or its failure, logged: the process's own clock stands in). */
  ready: Promise<void>;
  stop(): void;
}

/**
 * Measures now and every `intervalMs`. A failed measurement (the database down) keeps the last
 * offset. The offset is logged when it is first measured beyond CLOCK_OFFSET_WARN_MS and whenever
 * it moves by more than that since the last line.
 */
export function startClockSync(db: Db, opts: { intervalMs?: number; log?: (entry: Record<string, unknown>) => void } = {}): ClockSync {
  const log = opts.log ?? ((entry) => console.warn(JSON.stringify(entry)));
  let logged = 0;
  let failing = false;
  const measure = () =>
    syncClockWithDatabase(db).then(
      (s) => {
        failing = false;
        if (Math.abs(s.offsetMs - logged) > CLOCK_OFFSET_WARN_MS) {
          logged = s.offsetMs;
          log({ level: "warn", msg: "this console process's clock differs from the database's; the console keeps time by the database's", offsetMs: Math.round(s.offsetMs), rttMs: Math.round(s.rttMs) });
        }
      },
      (err: unknown) => {
        if (!failing) log({ level: "warn", msg: "could not read the database's clock; keeping the last offset", offsetMs: Math.round(offsetMs), error: String(err) });
        failing = true;
      },
    );
  const ready = measure();
  const timer = setInterval(() => void measure(), opts.intervalMs ?? CLOCK_SYNC_MS);
  timer.unref();
  return { ready, stop: () => clearInterval(timer) };
}
