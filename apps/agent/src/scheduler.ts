import { createKeyedMutex } from "@switchyard/cni";
import type { Clock } from "./clock";
import type { ConsolePort } from "./console";
import type { Gate } from "./gate";
import type { Logger } from "./log";

/** Operations per claim call (the console's limit). */
export const MAX_CLAIM = 64;
/** The most operation ids the console takes in a `holding` list. */
export const MAX_HOLDING = 1000;

/** What the scheduler needs of an operation before it is parsed: its id and what it works on. */
export interface WorkItem {
  operationId: string;
  attachment?: { id?: unknown; targetKind?: unknown; target?: unknown };
}

export interface SchedulerDeps {
  console: Pick<ConsolePort, "claim" | "holding">;
  /** Operations at once. */
  concurrency: number;
  /**
   * Carries out one operation (parses, runs, reports); its errors are logged here. It may resolve
   * once its work on the host is done, with `reported` settling when the console has its outcome:
   * the gate is let go then, the attachment (and the slot) only once reported.
   */
  run(op: unknown): Promise<{ reported?: Promise<unknown> } | void>;
  /** Operation ids finished and not yet reported (the outbox): still "held" by this agent. */
  queuedIds(): string[];
  gate: Gate;
  log: Logger;
  clock: Clock;
  /** Aborted when the agent stops: no claim starts after it. */
  signal: AbortSignal;
}

/**
 * Work scheduling: claims operations when slots are free, runs each under the gate (never beside
 * reconcile), one at a time per attachment (a re-issued attempt can arrive while the old one runs),
 * tracks what is in flight, tells the console what this agent holds, and drains at shutdown.
 */
export function createScheduler(deps: SchedulerDeps) {
  const inFlight = new Map<string, Promise<void>>();
  const perAttachment = createKeyedMutex();
  const perNamespace = createKeyedMutex();
  /** Settles when the claim calls in progress are done and their operations started. */
  let claiming: Promise<void> | undefined;
  let claimAgain = false;
  /** Work may be waiting that the last claim did not take: a full page, no free slot, or more behind a finished operation. */
  let workWaiting = false;

  function freeSlots(): number {
    return deps.concurrency - inFlight.size;
  }

  async function claimAndRun(): Promise<void> {
    if (claiming) {
      claimAgain = true;
      return;
    }
    let claimed!: () => void;
    claiming = new Promise((resolve) => (claimed = resolve));
    try {
      do {
        claimAgain = false;
        if (deps.signal.aborted) return;
        const free = freeSlots();
        if (free <= 0) {
          workWaiting = true;
          return;
        }
        const max = Math.min(free, MAX_CLAIM);
        const ops = await deps.console.claim(max);
        for (const op of ops) start(op);
        // A full page: there may be more.
        workWaiting = ops.length === max;
        if (workWaiting) claimAgain = true;
      } while (claimAgain);
    } finally {
      claiming = undefined;
      claimed();
    }
  }

  function start(op: WorkItem): void {
    const attachmentKey = String(op.attachment?.id ?? op.operationId);
    // Attachments that share a namespace (a sandbox on two networks) go one at a time too: a
    // detach deletes a sandbox only once it is empty, and an ADD into it must not slip in between.
    const namespaceKey = `${String(op.attachment?.targetKind)}:${String(op.attachment?.target ?? attachmentKey)}`;
    // The attachment and the namespace first, the gate last: an operation waiting for either (a
    // re-issued attempt, the next operation behind an outcome on its way) does not hold reconcile back.
    const task = perAttachment
      .run(attachmentKey, async () => {
        const done = await perNamespace.run(namespaceKey, () => deps.gate.shared(() => deps.run(op)));
        // The host is free (reconcile may run); the outcome's answer still holds the attachment.
        await done?.reported;
      })
      .catch((error: unknown) => deps.log.error("operation crashed", { operationId: op.operationId, error: (error as Error).message }))
      .finally(() => {
        // Full until now: the console's pushes held work back for want of a slot.
        const wasFull = inFlight.size >= deps.concurrency;
        inFlight.delete(op.operationId);
        // Work is pushed as it comes; a claim here only when some may be waiting.
        if (workWaiting || wasFull) void claimAndRun().catch(() => {});
      });
    inFlight.set(op.operationId, task);
  }

  /** The operations this agent holds: running, or finished and not yet reported; undefined past the console's limit. */
  function holding(): string[] | undefined {
    const ids = [...new Set([...inFlight.keys(), ...deps.queuedIds()])];
    return ids.length <= MAX_HOLDING ? ids : undefined;
  }

  return {
    start,
    claimAndRun,
    holding,
    freeSlots,
    /** A claim call is on its way: its operations are not in the held list yet. */
    get isClaiming(): boolean {
      return claiming !== undefined;
    },
    get inFlightCount(): number {
      return inFlight.size;
    },
    /** More work may be waiting (a full pushed page, or the console said so with an outcome). */
    noteWorkWaiting(): void {
      workWaiting = true;
    },
    /**
     * Tells the console what this agent holds when its push stream opens, so that claims made for it
     * before then that never arrived (pushed into a stream that broke, a claim's answer lost with its
     * connection) are handed out again now rather than when their lease runs out. A claim of ours
     * still in flight lands first: its operations must be on the list.
     */
    async handBackUnheld(openedAt: Date): Promise<void> {
      while (claiming) await claiming;
      const operationIds = holding();
      if (deps.signal.aborted || !operationIds) return;
      const { released } = await deps.console.holding(openedAt, operationIds);
      if (released > 0) deps.log.info("claims that never reached this agent are handed out again", { released });
    },
    /**
     * Waits for the operations in flight, at most `graceMs`: true when all finished. Those still
     * running past it keep their intent records; the next start DELs them first.
     */
    async drain(graceMs: number): Promise<boolean> {
      const waiting = [...inFlight.values()];
      if (waiting.length === 0) return true;
      deps.log.info("waiting for operations in flight", { count: waiting.length, graceMs });
      const stopWaiting = new AbortController();
      const finished = await Promise.race([Promise.all(waiting).then(() => true), deps.clock.sleep(graceMs, stopWaiting.signal).then(() => false)]);
      stopWaiting.abort();
      if (!finished) deps.log.warn("shutting down with operations in flight; their intents are journalled", { count: inFlight.size });
      return finished;
    },
  };
}
export type Scheduler = ReturnType<typeof createScheduler>;
