import { describe, expect, it } from "vitest";
import { createHeldRequests, releaseWhenDone } from "./heldRequests";
import { createThrottledLog } from "./throttledLog";

describe("held requests per credential", () => {
  it("lets each key hold up to max, apart from other keys; a release (even twice) frees one slot", () => {
    const held = createHeldRequests(2);
    const a1 = held.take("a")!;
    const a2 = held.take("a")!;
    expect(held.take("a")).toBeNull();
    expect(held.take("b")).not.toBeNull();
    a1();
    a1();
    expect(held.held("a")).toBe(1);
    expect(held.take("a")).not.toBeNull();
    expect(held.take("a")).toBeNull();
    a2();
    expect(held.held("a")).toBe(1);
  });

  it("gives the slot back when the body is read to its end, cancelled, or the request aborted, once", async () => {
    const body = () => new Response(new ReadableStream({ start: (c) => (c.enqueue(new TextEncoder().encode("x")), c.close()) }));
    let released = 0;
    await releaseWhenDone(body(), () => released++).text();
    expect(released).toBe(1);
    const open = new Response(new ReadableStream({ pull: () => new Promise(() => {}) }));
    const cancelled = releaseWhenDone(open, () => released++);
    await cancelled.body!.cancel();
    expect(released).toBe(2);
    const abort = new AbortController();
    const held = releaseWhenDone(new Response(new ReadableStream({ pull: () => new Promise(() => {}) })), () => released++, abort.signal);
    abort.abort();
    expect(released).toBe(3);
    expect(held.status).toBe(200);
    expect(releaseWhenDone(new Response(null, { status: 204 }), () => released++).status).toBe(204);
    expect(released).toBe(4);
  });
});

describe("throttled log", () => {
  it("says each key once per interval, with how many happened since the last line", () => {
    let t = 0;
    const lines: Record<string, unknown>[] = [];
    const log = createThrottledLog((e) => lines.push(e), 10_000, 100, () => t);
    for (let i = 0; i < 500; i++) log("a", () => ({ msg: "a" }));
    log("b", () => ({ msg: "b" }));
    expect(lines).toEqual([{ msg: "a", count: 1 }, { msg: "b", count: 1 }]);
    t = 10_000;
    log("a", () => ({ msg: "a" }));
    expect(lines.at(-1)).toEqual({ msg: "a", count: 500 });
  });
});
