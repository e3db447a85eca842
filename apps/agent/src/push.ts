import type { Clock } from "./clock";
import { type ConsolePort, CredentialRefused, trpcCode } from "./console";
import type { Logger } from "./log";
import { classifyFailure, retryDelayMs } from "./retry";
import { MAX_CLAIM, type Scheduler } from "./scheduler";

/** How long the agent long-polls after its push stream failed, before it tries the stream again. */
export const LONG_POLL_MS = 60_000;
/** How long one poll waits on the console for work. */
export const POLL_WAIT_MS = 20_000;

/** Whether the push stream (SSE) is open, and since when; reported in the inventory (doctor). */
export interface PushStreamState {
  open: boolean;
  since: Date;
}

export interface PushDeps {
  console: Pick<ConsolePort, "subscribeWork" | "poll">;
  scheduler: Pick<Scheduler, "start" | "claimAndRun" | "noteWorkWaiting" | "handBackUnheld" | "holding" | "freeSlots" | "isClaiming">;
  concurrency: number;
  /** The console asked for a reconcile. */
  onReconcile(): void;
  /** The console queued a release of leaked addresses for this host. */
  onRelease(): void;
  /** What hosts must program for services changed: fetch this host's part. */
  onServices?(): void;
  /** A service probe was asked of this host: take it. */
  onProbe?(): void;
  /** The console revoked this host (or refused its credential): the agent must stop. */
  onRefused(error: CredentialRefused): void;
  /** The stream opened or closed (the inventory reports it). */
  onStreamChange(state: PushStreamState): void;
  /** The first reconnect after a lost stream waits a random time up to this (config reconnectSpreadMs). */
  reconnectSpreadMs: number;
  log: Logger;
  clock: Clock;
  random?: () => number;
}

/**
 * The push stream: work pushed over SSE (the console claims for the agent and sends the operations
 * themselves); when the stream fails, long-polling for a while, then the stream again.
 */
export function createPushStream(deps: PushDeps) {
  const random = deps.random ?? Math.random;
  let lastPushAt: Date | null = null;
  let stream: PushStreamState = { open: false, since: new Date(deps.clock.now()) };
  const setOpen = (open: boolean) => {
    if (stream.open === open) return;
    stream = { open, since: new Date(deps.clock.now()) };
    deps.onStreamChange(stream);
  };

  /** Holds one stream until it ends (error, completion or stop); resolves with its error. */
  function holdStream(signal: AbortSignal): Promise<Error | undefined> {
    let announced = false;
    let onStop: (() => void) | undefined;
    return new Promise<Error | undefined>((resolve) => {
      // With slots the console claims for us and pushes the operations themselves.
      const sub = deps.console.subscribeWork(Math.min(deps.concurrency, MAX_CLAIM), {
        onData: (event) => {
          if (!announced) deps.log.info("push stream open");
          announced = true;
          setOpen(true);
          if (event.kind === "revoked") {
            deps.onRefused(new CredentialRefused("the console revoked this host"));
            return;
          }
          if (event.kind === "reconcile") {
            deps.log.info("reconcile requested by the console");
            deps.onReconcile();
            return;
          }
          if (event.kind === "release") {
            deps.onRelease();
            return;
          }
          if (event.kind === "services") {
            deps.onServices?.();
            return;
          }
          if (event.kind === "probe") {
            deps.onProbe?.();
            return;
          }
          if (event.kind === "open") {
            void deps.scheduler.handBackUnheld(event.at).catch((e: unknown) => deps.log.warn("could not tell the console what this agent holds", { error: (e as Error).message }));
            return;
          }
          lastPushAt = new Date(deps.clock.now());
          if (event.kind === "operations") {
            for (const op of event.ops) deps.scheduler.start(op);
            // A full page: more may be waiting once slots free up.
            if (event.more) deps.scheduler.noteWorkWaiting();
            return;
          }
          void deps.scheduler.claimAndRun().catch((e: unknown) => deps.log.warn("claim failed", { error: (e as Error).message }));
        },
        onError: (error) => {
          sub.unsubscribe();
          resolve(error);
        },
        // A stream that was open and broke (its console replica stopped, a proxy cut it, 30 s of
        // silence) or one that could not open: ended here, so that the agent waits its random
        // spread and long-polls instead of the link's immediate redial, which would bring every
        // agent of a restarted console back at the same instant.
        onConnectionStateChange: (state) => {
          if (state.state !== "connecting" || !state.error) return;
          sub.unsubscribe();
          resolve(state.error);
        },
        onComplete: () => resolve(undefined),
      });
      onStop = () => (sub.unsubscribe(), resolve(undefined));
      signal.addEventListener("abort", onStop, { once: true });
    }).finally(() => {
      // One listener per stream, removed when it ends: a flapping connection must not pile them up.
      if (onStop) signal.removeEventListener("abort", onStop);
    });
  }

  /** Long-polls for LONG_POLL_MS; the first poll that gets through says what this agent holds. */
  async function longPoll(signal: AbortSignal): Promise<void> {
    const until = deps.clock.now() + LONG_POLL_MS;
    let handBack = true;
    let failures = 0;
    while (!signal.aborted && deps.clock.now() < until) {
      try {
        const free = deps.scheduler.freeSlots();
        const held = handBack && !deps.scheduler.isClaiming ? deps.scheduler.holding() : undefined;
        const ops = free > 0 ? await deps.console.poll({ max: Math.min(free, MAX_CLAIM), waitMs: POLL_WAIT_MS, ...(held ? { holding: held } : {}) }, signal) : [];
        if (free > 0 && held) handBack = false;
        if (failures > 0) deps.log.info("poll reached the console again", { failures });
        failures = 0;
        for (const op of ops) deps.scheduler.start(op);
        if (free <= 0) await deps.clock.sleep(1000, signal);
      } catch (error) {
        if (signal.aborted) return;
        // Back-off with jitter (and the console's Retry-After): a fleet polling a busy console spreads out.
        const waitMs = retryDelayMs(classifyFailure(error, deps.clock.now()), failures++, random);
        deps.log.warn("poll failed; retrying", { error: (error as Error).message, retryInMs: waitMs });
        await deps.clock.sleep(waitMs, signal);
      }
    }
  }

  return {
    name: "push stream",
    async run(signal: AbortSignal): Promise<void> {
      while (!signal.aborted) {
        const ended = await holdStream(signal);
        setOpen(false);
        if (signal.aborted) return;
        if (trpcCode(ended) === "UNAUTHORIZED") return deps.onRefused(new CredentialRefused(ended!.message));
        // Spread out: every agent of a console that restarted lost its stream at the same moment.
        const waitMs = Math.floor(random() * deps.reconnectSpreadMs);
        deps.log.warn("push stream lost; reconnecting after a random wait", { error: ended?.message, reconnectInMs: waitMs });
        await deps.clock.sleep(waitMs, signal);
        if (signal.aborted) return;
        await longPoll(signal);
      }
    },
    get lastPushAt(): Date | null {
      return lastPushAt;
    },
    get state(): PushStreamState {
      return stream;
    },
  };
}
export type PushStream = ReturnType<typeof createPushStream>;
