import { getEventListeners } from "node:events";
import { describe, expect, it } from "vitest";
import { sleep } from "./sleep";

describe("sleep", () => {
  it("leaves no abort listener behind, however many times it waits", async () => {
    const stop = new AbortController();
    for (let i = 0; i < 20; i++) await sleep(1, stop.signal);
    expect(getEventListeners(stop.signal, "abort")).toHaveLength(0);
  });

  it("ends at once when aborted, or when already aborted", async () => {
    const stop = new AbortController();
    const started = Date.now();
    const waiting = sleep(60_000, stop.signal);
    stop.abort();
    await waiting;
    await sleep(60_000, stop.signal);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(getEventListeners(stop.signal, "abort")).toHaveLength(0);
  });
});
