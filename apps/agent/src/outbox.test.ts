import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "@switchyard/cni";
import { afterEach, describe, expect, it } from "vitest";
import { deferred, recordingLogger, settle, tempDir } from "../test/fakes";
import type { CompleteAnswer } from "./console";
import { createOutbox } from "./outbox";
import { type Report, createReportQueue } from "./reports";

const report = (id: string): Report => ({ operationId: id, attempt: 1, attachmentId: `att-${id}`, outcome: "succeeded" });
const dirs: { remove(): void }[] = [];
afterEach(() => dirs.splice(0).forEach((d) => d.remove()));

/** An outbox over a real report queue in a temp dir and a console the test scripts; `writes` says which report writes were flushed to the disk. */
function setup(answer: (r: Report) => CompleteAnswer | Error) {
  const dir = tempDir();
  dirs.push(dir);
  const calls: string[][] = [];
  let more = 0;
  const log = recordingLogger();
  const writes: string[] = [];
  const queue = createReportQueue(dir.path, async (file, data, options) => {
    await writeFileAtomic(file, data, options);
    writes.push(options.fsync ? "durable" : "queued");
  });
  /** The report files on disk when each call to the console was made. */
  const filesAtCall: string[][] = [];
  const files = () => (existsSync(join(dir.path, "reports")) ? readdirSync(join(dir.path, "reports")).sort() : []);
  const outbox = createOutbox({
    console: {
      completeMany: async (outcomes) => {
        filesAtCall.push(files());
        calls.push(outcomes.map((o) => o.operationId));
        const answers = outcomes.map((o) => answer(o as Report));
        const error = answers.find((a) => a instanceof Error);
        if (error) throw error;
        return answers as never;
      },
    },
    queue,
    log,
    onMoreWork: () => void more++,
  });
  return { outbox, queue, calls, log, files, filesAtCall, writes, more: () => more };
}

describe("report outbox", () => {
  it("records an outcome on disk while sending it, runs the caller's step once it is on disk, and removes it once the console took it", async () => {
    const s = setup(() => ({ recorded: true, more: false }) as unknown as CompleteAnswer);
    let onDisk: string[] | undefined;
    expect(await s.outbox.record(report("a"), async () => void (onDisk = s.files()))).toBe(true);
    expect(onDisk).toEqual(["a-1.json"]);
    expect(s.files()).toEqual([]);
    expect(s.calls).toEqual([["a"]]);
  });

  it("sends a fresh outcome before it writes it to the queue (the write is off the outcome's way)", async () => {
    const s = setup(() => ({ recorded: true, more: false }) as unknown as CompleteAnswer);
    let onDisk: string[] | undefined;
    expect(await s.outbox.record(report("a"), async () => void (onDisk = s.files()))).toBe(true);
    expect(s.filesAtCall).toEqual([[]]);
    // Still on disk before the caller's step (the intent goes there).
    expect(onDisk).toEqual(["a-1.json"]);
  });

  it("flushes an outcome to the disk only when the console did not take it, and drops the intent after that", async () => {
    const taken = setup(() => ({ recorded: true, more: false }) as unknown as CompleteAnswer);
    let seen: string[] = [];
    await taken.outbox.record(report("a"), async () => void (seen = [...taken.writes]));
    // In the queue while it was sent (a crash of the process finds it), never fsynced: the console has it.
    expect(taken.writes).toEqual(["queued"]);
    expect(seen).toEqual(["queued"]);
    expect(taken.files()).toEqual([]);

    const down = setup(() => new Error("ECONNREFUSED"));
    let onDisk: string[] = [];
    expect(await down.outbox.record(report("b"), async () => void ((seen = [...down.writes]), (onDisk = down.files())))).toBe(false);
    // Not taken: durable before the caller's step (its intent goes there), and kept.
    expect(seen).toEqual(["queued", "durable"]);
    expect(onDisk).toEqual(["b-1.json"]);
    expect(down.outbox.queued()).toEqual([report("b")]);
  });

  it("keeps an outcome queued while the console is unreachable and delivers it with the next flush", async () => {
    let down = true;
    const s = setup(() => (down ? new Error("ECONNREFUSED") : ({ recorded: true, more: false } as unknown as CompleteAnswer)));
    expect(await s.outbox.record(report("a"))).toBe(false);
    expect(s.files()).toEqual(["a-1.json"]);
    expect(s.outbox.queued().map((r) => r.operationId)).toEqual(["a"]);
    await s.outbox.flush();
    expect(s.files()).toEqual(["a-1.json"]);
    down = false;
    await s.outbox.flush();
    expect(s.files()).toEqual([]);
  });

  it("a refusal (stale attempt) is final: logged, taken off the queue", async () => {
    const s = setup(() => ({ refused: "staleAttempt" }) as unknown as CompleteAnswer);
    expect(await s.outbox.record(report("a"))).toBe(true);
    expect(s.files()).toEqual([]);
    expect(s.log.messages("warn")).toEqual(["result refused by the console (stale attempt)"]);
  });

  it("tells the scheduler when the console says more work is waiting", async () => {
    const s = setup(() => ({ recorded: true, more: true }) as unknown as CompleteAnswer);
    await s.outbox.record(report("a"));
    expect(s.more()).toBe(1);
  });

  it("outcomes that finish while one is on its way go together in the next call", async () => {
    const first = deferred();
    let n = 0;
    const s = setup(() => ({ recorded: true, more: false }) as unknown as CompleteAnswer);
    const original = s.calls;
    const slow = createOutbox({
      console: {
        completeMany: async (outcomes) => {
          original.push(outcomes.map((o) => o.operationId));
          if (n++ === 0) await first.promise;
          return outcomes.map(() => ({ recorded: true, more: false })) as never;
        },
      },
      queue: s.queue,
      log: s.log,
      onMoreWork: () => {},
    });
    const all = [slow.record(report("a")), slow.record(report("b")), slow.record(report("c"))];
    await new Promise((r) => setImmediate(r));
    first.resolve();
    expect(await Promise.all(all)).toEqual([true, true, true]);
    expect(original).toEqual([["a"], ["b", "c"]]);
  });

  it("a flush while an outcome is on its way waits for it instead of sending it again (the console would refuse the copy as stale)", async () => {
    const first = deferred();
    const s = setup(() => ({ recorded: true, more: false }) as unknown as CompleteAnswer);
    const sent: string[][] = [];
    const slow = createOutbox({
      console: {
        completeMany: async (outcomes) => {
          sent.push(outcomes.map((o) => `${o.operationId}#${o.attempt}`));
          await first.promise;
          return outcomes.map(() => ({ status: "succeeded", more: false })) as never;
        },
      },
      queue: s.queue,
      log: s.log,
      onMoreWork: () => {},
    });
    const recording = slow.record(report("a"));
    // The outcome is in the queue (not yet answered) when a heartbeat flushes it.
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    expect(slow.queued().map((r) => r.operationId)).toEqual(["a"]);
    const flushing = slow.flush();
    first.resolve();
    expect(await recording).toBe(true);
    await flushing;
    expect(sent).toEqual([["a#1"]]);
    expect(slow.queued()).toEqual([]);
    expect(s.log.messages("warn")).toEqual([]);
  });
  // bench/fleet.ts: the console refused 364 outcomes as stale in one run, each a copy a heartbeat's
  // flush sent between the console's answer and the file's removal.
  it("a flush between the console's answer and the removal of the file does not send the outcome again", async () => {
    const s = setup(() => ({ recorded: true, more: false }) as unknown as CompleteAnswer);
    const intentGone = deferred();
    // The caller's step (its intent removed: an fsync) holds the removal back.
    const recording = s.outbox.record(report("a"), () => intentGone.promise);
    await settle();
    expect(s.calls).toEqual([["a"]]);
    expect(s.files()).toEqual(["a-1.json"]);
    const flushing = s.outbox.flush();
    await settle();
    intentGone.resolve();
    expect(await recording).toBe(true);
    await flushing;
    expect(s.calls).toEqual([["a"]]);
    expect(s.files()).toEqual([]);
  });

  it("two flushes (a heartbeat's and the shutdown's) send a queued outcome once, the second waiting for the first's removal", async () => {
    let down = true;
    const s = setup(() => (down ? new Error("ECONNREFUSED") : ({ recorded: true, more: false } as unknown as CompleteAnswer)));
    expect(await s.outbox.record(report("a"))).toBe(false);
    down = false;
    s.calls.length = 0;
    // The first flush's removal is slow (a busy disk).
    const removing = deferred();
    const done = s.queue.done.bind(s.queue);
    s.queue.done = async (r) => (await removing.promise, done(r));
    const first = s.outbox.flush();
    await settle();
    expect(s.calls).toEqual([["a"]]);
    const second = s.outbox.flush();
    await settle();
    removing.resolve();
    await Promise.all([first, second]);
    expect(s.calls).toEqual([["a"]]);
    expect(s.files()).toEqual([]);
    expect(s.log.messages("warn")).toEqual(["outcome not delivered; it stays queued"]);
  });

  it("an outcome the console did not take is never lost: a flush during its durable write waits, and it goes with the next flush", async () => {
    let down = true;
    const s = setup(() => (down ? new Error("ECONNREFUSED") : ({ recorded: true, more: false } as unknown as CompleteAnswer)));
    const intentGone = deferred();
    const recording = s.outbox.record(report("a"), () => intentGone.promise);
    await settle();
    // Failed; the console is back while the caller's step runs. A flush now must neither send it twice nor lose it.
    down = false;
    const flushing = s.outbox.flush();
    await settle();
    intentGone.resolve();
    expect(await recording).toBe(false);
    await flushing;
    await s.outbox.flush();
    expect(s.calls).toEqual([["a"], ["a"]]);
    expect(s.files()).toEqual([]);
  });
});
