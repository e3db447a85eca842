import type { Clock } from "./clock";
import { type ConsolePort, CredentialRefused, trpcCode } from "./console";
import type { Logger } from "./log";
import { classifyFailure, retryDelayMs } from "./retry";
import { MAX_CLAIM, type Scheduler } from "./scheduler";

/** How long one poll waits on the console for work (the fallback while the stream cannot be had). */
export const POLL_WAIT_MS = 20_000;
/** With no free slot there is nothing to poll for: the stream is tried again once one frees, or after this. */
const NO_SLOT_CHECK_MS = 1000;
/** A stream that stayed open this long was not flapping: the next loss waits only the spread. */
export const STABLE_STREAM_MS = 10_000;

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
  /** The networks deployed to this host changed: fetch them and write the conf dir. */
  onDeploy?(): void;
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
 * themselves). A lost stream is opened again after a random part of the spread (a fleet that lost
 * its console together does not come back together); one that cannot open is bridged by one long
 * poll, and tried again as soon as the poll returns (or after a back-off when it failed). What the
 * console says only over the stream (reconcile, releases, services, probes, deployments) is caught up when a
 * stream opens after a gap: the console does not keep those for an agent that was not listening.
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

  /** What the console would have pushed during a gap without a stream: asked for again (each is a query of current state). */
  function catchUp(): void {
    deps.log.info("push stream open again: catching up on what it may have carried meanwhile");
    deps.onReconcile();
    deps.onRelease();
    deps.onServices?.();
    deps.onProbe?.();
    deps.onDeploy?.();
  }

  /**
   * Holds one stream until it ends (error, completion or stop); resolves with its error and whether
   * it opened (the console said anything). `afterGap`: the agent was without a stream before it.
   */
  function holdStream(signal: AbortSignal, afterGap: boolean): Promise<{ error: Error | undefined; opened: boolean }> {
    let announced = false;
    let onStop: (() => void) | undefined;
    return new Promise<Error | undefined>((resolve) => {
      // With slots the console claims for us and pushes the operations themselves.
      const sub = deps.console.subscribeWork(Math.min(deps.concurrency, MAX_CLAIM), {
        onData: (event) => {
          const first = !announced;
          if (first) deps.log.info("push stream open");
          announced = true;
          setOpen(true);
          if (event.kind === "revoked") {
            deps.onRefused(new CredentialRefused("the console revoked this host"));
            return;
          }
          if (first && afterGap) catchUp();
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
          if (event.kind === "deploy") {
            deps.onDeploy?.();
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
        // spread (or polls) instead of the link's immediate redial, which would bring every agent
        // of a restarted console back at the same instant.
        onConnectionStateChange: (state) => {
          if (state.state !== "connecting" || !state.error) return;
          sub.unsubscribe();
          resolve(state.error);
        },
        onComplete: () => resolve(undefined),
      });
      onStop = () => (sub.unsubscribe(), resolve(undefined));
      signal.addEventListener("abort", onStop, { once: true });
    })
      .finally(() => {
        // One listener per stream, removed when it ends: a flapping connection must not pile them up.
        if (onStop) signal.removeEventListener("abort", onStop);
      })
      .then((error) => ({ error, opened: announced }));
  }

  /**
   * One poll while the stream cannot be had: work still arrives, and it says what this agent holds
   * (claims pushed into a stream that broke are handed out again). Resolves once the poll returned
   * (the console had work, or its wait ended); throws when it failed.
   */
  async function pollOnce(signal: AbortSignal): Promise<void> {
    // No free slot: nothing to claim. The stream again once one frees, or within the poll's wait.
    for (let waited = 0; deps.scheduler.freeSlots() <= 0 && waited < POLL_WAIT_MS && !signal.aborted; waited += NO_SLOT_CHECK_MS) await deps.clock.sleep(NO_SLOT_CHECK_MS, signal);
    const free = deps.scheduler.freeSlots();
    if (free <= 0 || signal.aborted) return;
    const held = deps.scheduler.isClaiming ? undefined : deps.scheduler.holding();
    const ops = await deps.console.poll({ max: Math.min(free, MAX_CLAIM), waitMs: POLL_WAIT_MS, ...(held ? { holding: held } : {}) }, signal);
    for (const op of ops) deps.scheduler.start(op);
  }

  return {
    name: "push stream",
    async run(signal: AbortSignal): Promise<void> {
      // Failures in a row (polls that failed, streams that closed as soon as they opened): the back-off.
      let failures = 0;
      for (let attempt = 0; !signal.aborted; attempt++) {
        const startedAt = deps.clock.monotonic();
        // The first stream follows the agent's start, which reconciled and fetched everything itself.
        const { error: ended, opened } = await holdStream(signal, attempt > 0);
        setOpen(false);
        if (signal.aborted) return;
        if (trpcCode(ended) === "UNAUTHORIZED") return deps.onRefused(new CredentialRefused(ended!.message));
        if (opened) {
          // Spread out: every agent of a console that restarted lost its stream at the same moment.
          // A stream that keeps closing as soon as it opens is tried again less and less often.
          const isFlapping = deps.clock.monotonic() - startedAt < STABLE_STREAM_MS;
          if (!isFlapping) failures = 0;
          const spreadMs = Math.floor(random() * deps.reconnectSpreadMs);
          const waitMs = isFlapping ? Math.max(spreadMs, retryDelayMs(classifyFailure(ended, deps.clock.now()), failures++, random)) : spreadMs;
          deps.log.warn("push stream lost; reconnecting after a random wait", { error: ended?.message, reconnectInMs: waitMs });
          await deps.clock.sleep(waitMs, signal);
          continue;
        }
        deps.log.warn("push stream did not open; polling meanwhile", { error: ended?.message });
        try {
          await pollOnce(signal);
          if (failures > 0) deps.log.info("poll reached the console again", { failures });
          failures = 0;
        } catch (error) {
          if (signal.aborted) return;
          // Back-off with jitter (and the console's Retry-After): a fleet polling a busy console spreads out.
          const waitMs = retryDelayMs(classifyFailure(error, deps.clock.now()), failures++, random);
          deps.log.warn("poll failed; retrying", { error: (error as Error).message, retryInMs: waitMs });
          await deps.clock.sleep(waitMs, signal);
        }
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
