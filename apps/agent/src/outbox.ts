import { AGENT_BODY_BUDGET_BYTES } from "@switchyard/api/schemas";
import { createBatcher } from "./batcher";
import type { CompleteAnswer, ConsolePort } from "./console";
import type { Logger } from "./log";
import type { Report, ReportQueue } from "./reports";

export interface OutboxDeps {
  console: Pick<ConsolePort, "completeMany">;
  /** Outcomes on disk until the console took them (or refused them for good). */
  queue: ReportQueue;
  log: Logger;
  /** The console said more work is waiting behind an outcome it took. */
  onMoreWork(): void;
}

/**
 * The report outbox: operations' outcomes on their way to the console. An outcome is put in the
 * queue (on disk) while it is sent, and flushed to the disk only when the console did not take it;
 * one that could not be sent stays queued and goes with the next `flush` (after an outage, at
 * start, with every heartbeat). Outcomes that finish while one is on its way go together in the
 * next call (one statement on the console).
 */
export function createOutbox(deps: OutboxDeps) {
  // Requests within the agents' body budget (issue 15 §2): 64 outcomes of 200 long job lines each
  // were over the console's limit, refused whole (413) and sent again, the same, at every flush.
  const complete = createBatcher<Report, CompleteAnswer>((outcomes) => deps.console.completeMany(outcomes), 64, { sizeOf: (r) => Buffer.byteLength(JSON.stringify(r)), maxBytes: AGENT_BODY_BUDGET_BYTES });

  // An outcome is held from its send until its file is gone (the console answered) or durably
  // queued (it did not): a flush meanwhile waits for the holder instead of sending it again, which
  // the console would refuse as stale once the first copy closed the operation (bench/fleet.ts: 364
  // in one run, each sent between the answer and the file's removal). Once the holder lets go, the
  // file is either gone or on disk for the next flush: an outcome is never dropped.
  const held = new Map<string, Promise<unknown>>();
  const keyOf = (r: Pick<Report, "operationId" | "attempt">) => `${r.operationId}\0${r.attempt}`;
  function hold<T>(report: Report, work: () => Promise<T>): Promise<T> {
    const key = keyOf(report);
    const holding: Promise<T> = work().finally(() => held.get(key) === holding && held.delete(key));
    held.set(key, holding);
    return holding;
  }

  /** Sends an outcome: true when the console took it or refused it for good, false when it should be sent again. */
  async function deliver(report: Report): Promise<boolean> {
    let answer: CompleteAnswer;
    try {
      answer = await complete(report);
    } catch (error) {
      // Unreachable, an error answer or no answer in time (the call's limit): it stays queued and goes again.
      deps.log.warn("outcome not delivered; it stays queued", { operationId: report.operationId, attempt: report.attempt, error: (error as Error).message });
      return false;
    }
    if ("refused" in answer) {
      // Fenced out: a newer attempt owns the operation now (or it is gone). Our result changes nothing.
      const why = answer.refused === "staleAttempt" ? "stale attempt" : "no such operation for this host";
      deps.log.warn(`result refused by the console (${why})`, { operationId: report.operationId, attempt: report.attempt });
    } else if (answer.more) {
      deps.onMoreWork();
    }
    return true;
  }

  /**
   * A queued outcome to the console, and off the queue once it answered; one held elsewhere (being
   * recorded, or sent by another flush) is waited for, not sent. Synchronous up to the check, so
   * a flush's listing and its checks see the same moment.
   */
  function send(report: Report): Promise<unknown> {
    const holder = held.get(keyOf(report));
    if (holder) return holder.catch(() => {});
    return hold(report, async () => {
      if (await deliver(report)) await deps.queue.done(report);
    });
  }

  return {
    /**
     * Records a fresh outcome: to the console, then (next turn) in the queue. `beforeDone` runs once the
     * outcome is safe — taken by the console, or durable on disk when it was not (the caller drops
     * its intent there: a crash before that DELs, after it re-sends). One fsync per outcome only
     * when the console cannot be reached: a process crash while it is on its way still finds it in
     * the queue (the page cache), and a power loss finds the intent, which DELs.
     * False when the console could not be reached: the outcome stays queued. `onQueued` is called
     * once the outcome is in the queue (before the answer): from then on reconcile counts it as
     * finished, so the operation need not hold the host while the console answers.
     */
    record(report: Report, beforeDone: () => Promise<void> = async () => {}, onQueued?: () => void): Promise<boolean> {
      return hold(report, async () => {
        // The request goes first: the queue's write (sync file calls, ~0.5 ms) follows on the next
        // turn, off the outcome's way. Until it is written the intent is still there (a crash DELs).
        const delivered = deliver(report);
        const queued = new Promise<void>((resolve, reject) => setImmediate(() => deps.queue.put(report, { durable: false }).then(resolve, reject)));
        await queued;
        onQueued?.();
        if (!(await delivered)) {
          await deps.queue.put(report, { durable: true });
          await beforeDone();
          return false;
        }
        await beforeDone();
        await deps.queue.done(report);
        return true;
      });
    },
    /** Outcomes queued while the console was unreachable; all at once (the batcher sends them in pages). */
    async flush(): Promise<void> {
      await Promise.all(deps.queue.list().map(send));
    },
    /** The outcomes still queued (not yet answered by the console). */
    queued(): Report[] {
      return deps.queue.list();
    },
  };
}
export type Outbox = ReturnType<typeof createOutbox>;
