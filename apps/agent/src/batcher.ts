/**
 * Calls that may share a request: an item is sent at once when no request is in flight, otherwise
 * with every item that arrived meanwhile, in the next request (up to `max`). A lone item never
 * waits; under load, requests carry many (group commit). Each caller gets its own answer; a failed
 * request fails every item it carried.
 */
export function createBatcher<T, A>(send: (items: T[]) => Promise<A[]>, max = 64, budget?: { sizeOf(item: T): number; maxBytes: number }): (item: T) => Promise<A> {
  const waiting: { item: T; size: number; resolve: (answer: A) => void; reject: (error: unknown) => void }[] = [];
  let sending = false;

  /** Up to `max` items, and (with a budget) as many as fit its bytes, at least one: the request stays within the console's body limit. */
  function nextBatch() {
    if (!budget) return waiting.splice(0, max);
    let n = 0;
    let bytes = 0;
    while (n < Math.min(max, waiting.length) && (n === 0 || bytes + waiting[n]!.size <= budget.maxBytes)) bytes += waiting[n++]!.size;
    return waiting.splice(0, n);
  }

  async function pump(): Promise<void> {
    if (sending || waiting.length === 0) return;
    sending = true;
    const batch = nextBatch();
    try {
      const answers = await send(batch.map((w) => w.item));
      if (answers.length !== batch.length) throw new Error(`expected ${batch.length} answers, got ${answers.length}`);
      batch.forEach((w, i) => w.resolve(answers[i]!));
    } catch (error) {
      for (const w of batch) w.reject(error);
    } finally {
      sending = false;
      void pump();
    }
  }

  return (item) =>
    new Promise<A>((resolve, reject) => {
      waiting.push({ item, size: budget ? budget.sizeOf(item) : 0, resolve, reject });
      void pump();
    });
}
