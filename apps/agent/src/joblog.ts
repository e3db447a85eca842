import { AGENT_BODY_BUDGET_BYTES } from "@switchyard/api/schemas";
import type { JobLine } from "./executor";

export type StoredLine = JobLine & { at: Date };
export interface LogEntry {
  operationId: string;
  attempt: number;
  lines: StoredLine[];
}

/** The console's limits for one log call. */
const MAX_LINES_PER_ENTRY = 200;
const MAX_ENTRIES_PER_CALL = 64;
/** Besides its count, a call stays within this many bytes of lines (AGENT_BODY_BUDGET_BYTES, less room for the envelope). */
export const MAX_LINE_BYTES_PER_CALL = AGENT_BODY_BUDGET_BYTES - 64 * 1024;
/** A line's weight in a call: its text and what goes around it (stream, date, keys). */
const weightOf = (l: StoredLine) => Buffer.byteLength(l.line) + 96;

/**
 * Job lines on their way to the console for the live job view: every `intervalMs` one call
 * carries the new lines of all running operations, however many there are (50 operations at once
 * cost one call per flush, not 50). Calls go one at a time, so an operation's lines stay in order.
 * When an operation ends, `take()` hands its last lines to the caller, which sends them with the
 * outcome. A failed call drops its lines: the job view is best effort, the outcome is not.
 */
export function createJobLog(send: (entries: LogEntry[]) => Promise<void>, intervalMs = 250) {
  const pending = new Map<string, LogEntry>();
  let flushing: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  const key = (op: { operationId: string; attempt: number }) => `${op.operationId}#${op.attempt}`;

  /** One call with the pending lines (up to its limits); the timer sends the rest next time. */
  function flushOnce(): Promise<void> {
    flushing = flushing.then(async () => {
      const entries: LogEntry[] = [];
      let bytes = 0;
      for (const [k, entry] of pending) {
        if (entries.length === MAX_ENTRIES_PER_CALL || bytes >= MAX_LINE_BYTES_PER_CALL) break;
        let n = 0;
        while (n < Math.min(MAX_LINES_PER_ENTRY, entry.lines.length) && (bytes === 0 || bytes + weightOf(entry.lines[n]!) <= MAX_LINE_BYTES_PER_CALL)) bytes += weightOf(entry.lines[n++]!);
        if (n === 0) break;
        entries.push({ ...entry, lines: entry.lines.splice(0, n) });
        if (entry.lines.length === 0) pending.delete(k);
      }
      if (entries.length > 0) await send(entries).catch(() => {});
    });
    return flushing;
  }

  function schedule() {
    timer ??= setTimeout(() => {
      void flushOnce().finally(() => {
        timer = undefined;
        if (pending.size > 0) schedule();
      });
    }, intervalMs);
  }

  return {
    add(op: { operationId: string; attempt: number }, line: StoredLine): void {
      const k = key(op);
      const entry = pending.get(k) ?? { operationId: op.operationId, attempt: op.attempt, lines: [] };
      entry.lines.push(line);
      pending.set(k, entry);
      schedule();
    },
    /**
     * The operation's lines not sent yet (at most 200: more are sent first), once no call that may
     * carry earlier lines of it is in flight. They are no longer sent by the timer.
     */
    async take(op: { operationId: string; attempt: number }): Promise<StoredLine[]> {
      for (let seen = flushing; ; seen = flushing) {
        await seen;
        if (seen === flushing) break;
      }
      const entry = pending.get(key(op));
      pending.delete(key(op));
      if (!entry) return [];
      const earlier = entry.lines.splice(0, Math.max(0, entry.lines.length - MAX_LINES_PER_ENTRY));
      while (earlier.length > 0) {
        const lines = earlier.splice(0, MAX_LINES_PER_ENTRY);
        await (flushing = flushing.then(() => send([{ ...entry, lines }]).catch(() => {})));
      }
      return entry.lines;
    },
    /** Sends every pending line now, call after call within the console's limits (at shutdown). */
    async flush(): Promise<void> {
      while (pending.size > 0) await flushOnce();
      await flushing;
    },
    stop(): void {
      clearTimeout(timer);
    },
  };
}
export type JobLog = ReturnType<typeof createJobLog>;
