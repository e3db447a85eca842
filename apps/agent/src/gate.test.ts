import { describe, expect, it } from "vitest";
import { deferred, settle } from "../test/fakes";
import { createGate } from "./gate";

describe("the gate (reconcile apart from ADD/DEL)", () => {
  it("runs shared tasks together; an exclusive one waits for them, and shared ones arriving meanwhile wait for it", async () => {
    const gate = createGate();
    const events: string[] = [];
    const a = deferred();
    const b = deferred();
    const x = deferred();
    const sharedA = gate.shared(async () => (events.push("A start"), await a.promise, events.push("A end")));
    const sharedB = gate.shared(async () => (events.push("B start"), await b.promise, events.push("B end")));
    await settle();
    expect(events).toEqual(["A start", "B start"]);
    const exclusive = gate.exclusive(async () => (events.push("X start"), await x.promise, events.push("X end")));
    const late = gate.shared(async () => void events.push("C start"));
    a.resolve();
    await settle();
    expect(events).toEqual(["A start", "B start", "A end"]); // X waits for B; C waits for X
    b.resolve();
    await settle();
    expect(events.slice(3)).toEqual(["B end", "X start"]);
    x.resolve();
    await Promise.all([sharedA, sharedB, exclusive, late]);
    expect(events.slice(5)).toEqual(["X end", "C start"]);
  });

  it("two exclusive tasks run one after the other, and a failing one releases the gate", async () => {
    const gate = createGate();
    const events: string[] = [];
    const first = gate.exclusive(async () => {
      events.push("1");
      throw new Error("boom");
    });
    const second = gate.exclusive(async () => void events.push("2"));
    await expect(first).rejects.toThrow("boom");
    await second;
    await gate.shared(async () => void events.push("shared"));
    expect(events).toEqual(["1", "2", "shared"]);
  });
});
