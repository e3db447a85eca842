import { describe, expect, it } from "vitest";
import { createBatcher } from "./batcher";

/** A send whose requests the test completes by hand. */
function manualSend() {
  const requests: { items: number[]; answer: (a?: string[]) => void; fail: (e: Error) => void }[] = [];
  const send = (items: number[]) =>
    new Promise<string[]>((resolve, reject) => requests.push({ items, answer: (a) => resolve(a ?? items.map((i) => `ok ${i}`)), fail: reject }));
  return { requests, send };
}

describe("createBatcher", () => {
  it("sends a lone item at once, and what arrives during a request together in the next", async () => {
    const { requests, send } = manualSend();
    const call = createBatcher(send);
    const first = call(1);
    expect(requests.map((r) => r.items)).toEqual([[1]]);
    const later = [call(2), call(3), call(4)];
    expect(requests).toHaveLength(1);
    requests[0]!.answer();
    expect(await first).toBe("ok 1");
    await Promise.resolve();
    expect(requests.map((r) => r.items)).toEqual([[1], [2, 3, 4]]);
    requests[1]!.answer();
    expect(await Promise.all(later)).toEqual(["ok 2", "ok 3", "ok 4"]);
  });

  it("caps a request at max items; the rest go in the next", async () => {
    const { requests, send } = manualSend();
    const call = createBatcher(send, 2);
    const all = [call(1), call(2), call(3), call(4)];
    requests[0]!.answer();
    await all[0];
    await Promise.resolve();
    requests[1]!.answer();
    await all[2];
    await Promise.resolve();
    requests[2]!.answer();
    expect(await Promise.all(all)).toEqual(["ok 1", "ok 2", "ok 3", "ok 4"]);
    expect(requests.map((r) => r.items)).toEqual([[1], [2, 3], [4]]);
  });

  it("with a byte budget, a request carries what fits it (at least one item); the rest go in the next", async () => {
    const { requests, send } = manualSend();
    // Sizes in "bytes": the item itself.
    const call = createBatcher(send, 64, { sizeOf: (i) => i, maxBytes: 100 });
    const all = [call(10), call(60), call(30), call(20), call(150), call(5)];
    for (let answered = 0; answered < requests.length; answered++) {
      requests[answered]!.answer();
      await new Promise((r) => setImmediate(r));
    }
    expect(await Promise.all(all)).toEqual(["ok 10", "ok 60", "ok 30", "ok 20", "ok 150", "ok 5"]);
    // 10 alone (nothing waited); 60+30 (20 more would be 110); 20 (150 would not fit); 150 alone, over the budget; 5.
    expect(requests.map((r) => r.items)).toEqual([[10], [60, 30], [20], [150], [5]]);
  });

  it("a failed request fails the items it carried, not the next ones", async () => {
    const { requests, send } = manualSend();
    const call = createBatcher(send);
    const first = call(1);
    const second = call(2);
    requests[0]!.fail(new Error("console down"));
    await expect(first).rejects.toThrow("console down");
    await Promise.resolve();
    requests[1]!.answer();
    expect(await second).toBe("ok 2");
  });

  it("a request answered with the wrong number of answers fails its items", async () => {
    const { requests, send } = manualSend();
    const call = createBatcher(send);
    const first = call(1);
    requests[0]!.answer([]);
    await expect(first).rejects.toThrow("expected 1 answers, got 0");
  });
});
